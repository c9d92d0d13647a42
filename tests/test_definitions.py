"""One report per defect, where it is fixed: a finding in a Bicep module is reported once, in
the module file, naming the files that deploy it (preflight.definitions)."""
from __future__ import annotations

import textwrap

from preflight.engine import Options, scan

VAULT_MODULE = """\
param name string
param accessPolicies array = []

resource keyVault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: 'westeurope'
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: false
    enablePurgeProtection: true
    publicNetworkAccess: 'Disabled'
    accessPolicies: accessPolicies
  }
}
"""


def caller(name: str, policies: str = "[]") -> str:
    return textwrap.dedent(f"""\
        module vault 'modules/vault.bicep' = {{
          name: 'vault'
          params: {{
            name: '{name}'
            accessPolicies: {policies}
          }}
        }}
        """)


GRANT = "[\n      {\n        tenantId: subscription().tenantId\n" \
        "        objectId: '00000000-0000-0000-0000-000000000001'\n" \
        "        permissions: { secrets: [ 'get' ] }\n      }\n    ]"


def repo(tmp_path, callers: dict[str, str]):
    (tmp_path / ".git").mkdir(exist_ok=True)
    (tmp_path / "modules").mkdir(exist_ok=True)
    (tmp_path / "modules" / "vault.bicep").write_text(VAULT_MODULE)
    for name, text in callers.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def kv(result, rule: str):
    return [f for f in result.findings if f.rule == rule]


def test_a_module_deployed_by_several_files_is_one_finding_naming_them(tmp_path):
    root = repo(tmp_path, {"dev.bicep": caller("kv-x"), "prod.bicep": caller("kv-x")})
    [finding] = kv(scan([str(root)], Options()), "KV001")
    assert finding.path == str(root / "modules" / "vault.bicep")
    assert finding.line == VAULT_MODULE.splitlines().index("    accessPolicies: accessPolicies") + 1
    assert finding.data["callers"] == [f"{root / 'dev.bicep'}:1", f"{root / 'prod.bicep'}:1"]
    assert finding.message.endswith("(deployed by ../dev.bicep:1 and 1 more)")


def test_the_message_names_the_outermost_deploying_file_and_data_the_whole_chain(tmp_path):
    root = repo(tmp_path, {"main.bicep": "module mid 'modules/mid.bicep' = {\n  name: 'mid'\n}\n"})
    (root / "modules" / "mid.bicep").write_text(caller("kv-x").replace("modules/vault.bicep", "vault.bicep"))
    [finding] = kv(scan([str(root / "main.bicep")], Options()), "KV001")
    assert finding.data["callers"] == [f"{root / 'main.bicep'}:1 > {root / 'modules' / 'mid.bicep'}:1"]
    assert finding.message.endswith("(deployed by ../main.bicep:1)")
    assert "'kv-x'" in finding.message


def test_a_module_whose_only_caller_passes_policies_is_not_judged_on_its_empty_default(tmp_path):
    root = repo(tmp_path, {"main.bicep": caller("kv-x", GRANT)})
    result = scan([str(root)], Options())
    assert kv(result, "KV001") == []
    [replaced] = kv(result, "KV003")  # judged through its caller's value: one policy
    assert replaced.path.endswith("vault.bicep") and replaced.data["callers"] == [f"{root / 'main.bicep'}:1"]


def test_a_module_scanned_without_its_callers_is_judged_on_its_defaults(tmp_path):
    root = repo(tmp_path, {"main.bicep": caller("kv-x", GRANT)})
    [wiped] = kv(scan([str(root / "modules")], Options()), "KV001")
    assert wiped.path.endswith("vault.bicep") and "callers" not in wiped.data


def test_the_fingerprint_stays_when_a_caller_is_added(tmp_path):
    root = repo(tmp_path, {"dev.bicep": caller("kv-x")})
    [before] = kv(scan([str(root)], Options()), "KV001")
    (root / "prod.bicep").write_text(caller("kv-x"))
    [after] = kv(scan([str(root)], Options()), "KV001")
    assert len(after.data["callers"]) == 2 and len(before.data["callers"]) == 1
    assert (after.path, after.line, after.fingerprint) == (before.path, before.line, before.fingerprint)


def test_the_same_report_with_the_result_cache_and_without(tmp_path):
    root = repo(tmp_path / "repo", {"dev.bicep": caller("kv-x"), "prod.bicep": caller("kv-x")}) \
        if (tmp_path / "repo").mkdir() is None else None
    plain = scan([str(root)], Options())
    options = Options(cache_dir=str(tmp_path / "cache"))
    cold, warm = scan([str(root)], options), scan([str(root)], options)
    assert warm.cache_hits > 0
    shown = [[f.to_json() for f in r.findings] for r in (plain, cold, warm)]
    assert shown[0] == shown[1] == shown[2]
    assert [f.rule for f in plain.findings].count("KV001") == 1


def test_a_suppression_in_the_module_file_hides_the_finding_from_every_caller(tmp_path):
    root = repo(tmp_path, {"dev.bicep": caller("kv-x"), "prod.bicep": caller("kv-x")})
    text = VAULT_MODULE.replace("    accessPolicies: accessPolicies",
                                "    // preflight: ignore[KV001]\n    accessPolicies: accessPolicies")
    (root / "modules" / "vault.bicep").write_text(text)
    result = scan([str(root)], Options())
    assert kv(result, "KV001") == [] and kv(result, "PF004") == []


def test_a_note_about_a_module_is_reported_once_in_the_module(tmp_path):
    root = repo(tmp_path, {"dev.bicep": caller("kv-x"), "prod.bicep": caller("kv-x")})
    (root / "modules" / "vault.bicep").write_text(VAULT_MODULE + "var script = loadTextContent('gone.ps1')\n")
    [note] = kv(scan([str(root)], Options()), "PF010")
    assert note.path.endswith("vault.bicep") and "gone.ps1" in note.message
    assert note.line == VAULT_MODULE.count("\n") + 1


def test_finops_hub_reports_each_vault_defect_once_in_its_module(corpus):
    folder = corpus / "azure-quickstart-templates/quickstarts/microsoft.costmanagement/finops-hub"
    found = scan([str(folder)], Options()).findings
    in_bicep = [f for f in found if f.path.endswith(".bicep")]
    module = str(folder / "modules" / "keyVault.bicep")
    assert [f for f in found if f.rule == "KV001"] == []  # its only caller passes policies
    [replaced] = [f for f in in_bicep if f.rule == "KV003"]
    assert replaced.path == module and replaced.data["callers"] == [f"{folder / 'main.bicep'}:33 > "
                                                                    f"{folder / 'modules' / 'hub.bicep'}:133"]
    keys = [(f.rule, f.path, f.line) for f in in_bicep]
    assert len(keys) == len(set(keys))  # no defect twice
