"""Registry (`br:`) and template-spec (`ts:`) modules read from Bicep's local module cache, laid
out as `bicep restore` leaves it; never fetched. A module not in the cache is one PF010 with the
command that restores it."""
from __future__ import annotations

import json
import textwrap

import pytest

from preflight.bicep.registry import BadReference, Config, cache_file, encode_tag
from preflight.engine import Options, scan

VAULT_MODULE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {
        "name": {"type": "string"},
        "accessPolicies": {"type": "array", "defaultValue": [
            {"tenantId": "[subscription().tenantId]", "objectId": "00000000-0000-0000-0000-000000000001",
             "permissions": {"secrets": ["get"]}}]},
    },
    "resources": [{
        "type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "[parameters('name')]",
        "location": "westeurope",
        "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
                       "publicNetworkAccess": "Disabled", "accessPolicies": "[parameters('accessPolicies')]"},
    }],
}
PUBLIC_DIR = ("br", "mcr.microsoft.com", "bicep$avm$res$key-vault$vault", "0.1.0$")
PRIVATE_DIR = ("br", "myreg.azurecr.io", "x", "1.0$")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def cache_module(root, parts, template=VAULT_MODULE):
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.json").write_text(json.dumps(template))


def caller(reference, name="kv-${suffix}"):
    return f"""\
        param suffix string = 'demo'

        module vault '{reference}' = {{
          name: 'vault'
          params: {{
            name: '{name}'
            accessPolicies: []
          }}
        }}
        """


def findings(path):
    """The findings of one scan, but the retiring API versions of the cached modules (KV019,
    tested in test_keyvault_retiring.py): these tests are about reading the modules."""
    return [f for f in scan([str(path)], Options()).findings if f.rule != "KV019"]


def test_cache_layout_matches_bicep():
    config = Config(cache_root="/c")
    assert cache_file("br/public:avm/res/key-vault/vault:0.1.0", config) == \
        "/c/br/mcr.microsoft.com/bicep$avm$res$key-vault$vault/0.1.0$/main.json"
    assert cache_file("br:MyReg.azurecr.io:443/a/b:V1", config) == "/c/br/myreg.azurecr.io$443/a$b/V1$1/main.json"
    digest = "sha256:" + "ab" * 32
    assert cache_file(f"br:r.io/x@{digest}", config) == f"/c/br/r.io/x/sha256#{'ab' * 32}/main.json"
    sub = "00000000-0000-0000-0000-0000000000AA"
    assert cache_file(f"ts:{sub}/My-RG/Spec:V2", config) == f"/c/ts/{sub.lower()}/my-rg/spec/v2/main.json"
    assert encode_tag("aB") == "aB$2" and encode_tag("x" * 64 + "Y") == "x" * 64 + "Y$10000000000000000"


@pytest.mark.parametrize("reference", [
    "br:r.io/../../etc:1", "br:r.io/x:../y", "br:../x:1", "br/nope:x:1", "br:r.io/x",
    "ts:00000000-0000-0000-0000-000000000000/rg/../x:1", "ts:not-a-guid/rg/x:1",
    "ts:00000000-0000-0000-0000-000000000000/rg/x:..",
])
def test_references_bicep_refuses_never_become_paths(reference):
    with pytest.raises(BadReference):
        cache_file(reference, Config(cache_root="/c"))


def test_public_module_from_the_home_cache_is_checked_with_the_callers_values(tmp_path, monkeypatch):
    home = tmp_path / "home"
    cache_module(home / ".bicep", PUBLIC_DIR)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("PREFLIGHT_BICEP_CACHE", raising=False)
    main = write(tmp_path / "repo" / "main.bicep", caller("br/public:avm/res/key-vault/vault:0.1.0"))
    found = findings(main)
    assert [f.rule for f in found] == ["KV001"], [f.message for f in found]
    assert found[0].line == 3  # the module call
    assert "'kv-demo'" in found[0].message  # the caller's name, evaluated in the cached template
    assert "through module 'vault'" in found[0].message


@pytest.mark.parametrize("reference", ["br/corp:x:1.0", "br:myreg.azurecr.io/x:1.0"])
def test_private_module_with_an_alias_and_the_configs_cache_root(tmp_path, monkeypatch, reference):
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    monkeypatch.delenv("PREFLIGHT_BICEP_CACHE", raising=False)
    cache_module(tmp_path / "bicep-cache", PRIVATE_DIR)
    repo = tmp_path / "repo"
    write(repo / "bicepconfig.json", """\
        {
          // comments are allowed, as Bicep allows them
          "cacheRootDirectory": "../bicep-cache",
          "moduleAliases": {"br": {"corp": {"registry": "myreg.azurecr.io"}}}
        }
        """)
    main = write(repo / "infra" / "main.bicep", caller(reference, "kv-corp"))
    found = findings(main)
    assert [f.rule for f in found] == ["KV001"], [f.message for f in found]
    assert "'kv-corp'" in found[0].message


def test_template_spec_from_the_cache(tmp_path, monkeypatch):
    sub = "00000000-0000-0000-0000-000000000000"
    cache = tmp_path / "cache"
    folder = cache / "ts" / sub / "rg" / "vault" / "v1"
    folder.mkdir(parents=True)
    (folder / "main.json").write_text(json.dumps({"id": "x", "properties": {"mainTemplate": VAULT_MODULE}}))
    monkeypatch.setenv("PREFLIGHT_BICEP_CACHE", str(cache))
    main = write(tmp_path / "main.bicep", caller(f"ts:{sub}/rg/vault:v1"))
    assert [f.rule for f in findings(main)] == ["KV001"]


def test_missing_module_is_one_pf010_per_reference_with_the_restore_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFLIGHT_BICEP_CACHE", raising=False)
    repo = tmp_path / "repo"
    write(repo / "vault.bicep", """\
        module a 'br/public:avm/res/key-vault/vault:0.1.0' = {
          name: 'a'
        }
        module b 'br:myreg.azurecr.io/x:1.0' = {
          name: 'b'
        }
        """)
    write(repo / "main.bicep", "module v 'vault.bicep' = {\n  name: 'v'\n}\n")
    write(repo / "other.bicep", "module w 'vault.bicep' = {\n  name: 'w'\n}\n")
    found = [f for f in findings(repo) if f.rule == "PF010"]
    assert sorted((f.path.rsplit("/", 1)[-1], f.line) for f in found) == [("vault.bicep", 1), ("vault.bicep", 4)]
    for f in found:
        assert "`bicep restore vault.bicep`" in f.message and "is not restored, so not checked" in f.message


def test_a_broken_cached_module_is_a_note_not_a_crash(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    folder = cache.joinpath(*PRIVATE_DIR)
    folder.mkdir(parents=True)
    (folder / "main.json").write_text("{ not json")
    monkeypatch.setenv("PREFLIGHT_BICEP_CACHE", str(cache))
    main = write(tmp_path / "main.bicep", caller("br:myreg.azurecr.io/x:1.0"))
    [note] = findings(main)
    assert note.rule == "PF010" and "not valid JSON" in note.message


def test_restoring_a_module_invalidates_the_result_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("PREFLIGHT_BICEP_CACHE", str(cache))
    main = write(tmp_path / "repo" / "main.bicep", caller("br:myreg.azurecr.io/x:1.0"))
    options = dict(cache_dir=str(tmp_path / "results"))
    first = scan([str(main)], Options(**options))
    assert [f.rule for f in first.findings] == ["PF010"]
    assert [f.rule for f in scan([str(main)], Options(**options)).findings] == ["PF010"]
    cache_module(cache, PRIVATE_DIR)  # `bicep restore`
    again = scan([str(main)], Options(**options))
    assert again.cache_hits == 0 and [f.rule for f in again.findings if f.rule != "KV019"] == ["KV001"]
