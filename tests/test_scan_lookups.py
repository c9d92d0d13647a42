"""The look-ups a scan makes for each file are remembered across files (a folder's configuration,
the rules a configuration enables, a parameter file parsed for its template), and a remembered
answer is never served where it would differ: another folder, another configuration, other
bytes, another way of naming the file."""
from __future__ import annotations

import json
import os
from pathlib import Path

from preflight import config as config_module
from preflight import fs
from preflight.arm.parameters import load_parameter_file, paired_files
from preflight.bicep.links import bicepparam_for
from preflight.config import Configs
from preflight.contract import REGISTRY, Options
from preflight.documents import Document, Kind
from preflight.engine import DocumentStore, ScanContext
from preflight.filters import FindingFilter
from preflight.rulepacks import load_rule_packs

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PSCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def vault_template(path: Path) -> Path:
    """A Key Vault whose access policies come from a parameter: its check reads the parameter files."""
    body = {"$schema": SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"policies": {"type": "array", "defaultValue": []}},
            "resources": [{"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv",
                           "location": "westeurope",
                           "properties": {"tenantId": "t", "sku": {"family": "A", "name": "standard"},
                                          "accessPolicies": "[parameters('policies')]"}}]}
    return write(path, json.dumps(body, indent=2))


# ------------------------------------------------------------------------- configuration


def test_each_folder_is_probed_once_across_the_passes_of_a_scan(tmp_path, monkeypatch):
    """The exclude pass, the rule pass and the severity pass each ask for every folder: with
    more folders than the maps held before (512 and 1,024), each folder is still probed once,
    and a folder with a configuration of its own keeps getting it."""
    write(tmp_path / ".preflight.toml", 'ignore = ["ENV005"]\n')
    write(tmp_path / "own" / ".preflight.toml", 'ignore = ["ENV004"]\n')
    folders = [tmp_path / f"f{i}" for i in range(1100)] + [tmp_path / "own" / f"g{i}" for i in range(20)]
    probed: list[str] = []
    real_config_in = config_module._config_in
    monkeypatch.setattr(config_module, "_config_in", lambda d: probed.append(d) or real_config_in(d))
    configs = Configs()
    for _ in range(3):
        found = [configs.for_file(str(f / "conda.yml")) for f in folders]
        assert {c.path for c in found[:1100]} == {str(tmp_path / ".preflight.toml")}
        assert {c.path for c in found[1100:]} == {str(tmp_path / "own" / ".preflight.toml")}
    assert sorted(probed) == sorted(set(probed))  # no folder twice
    assert str(tmp_path / "f1099") in probed and str(tmp_path / "own") in probed


# ------------------------------------------------------------------------- rule selection


def test_the_rules_of_a_kind_are_chosen_once_per_configuration_and_stay_its_own(tmp_path):
    load_rule_packs()
    write(tmp_path / "quiet" / ".preflight.toml", 'ignore = ["ENV"]\n')
    env_rules = [r for r in REGISTRY.values() if r.check is not None and Kind.CONDA in r.kinds]
    assert any(r.id.startswith("ENV") for r in env_rules)
    filt = FindingFilter(Options(configs=Configs()))

    def ids(folder: str, rules: list) -> list[str]:
        doc = Document(str(tmp_path / folder / "conda.yml"), Kind.CONDA, "yaml", text="name: e\n")
        return [r.id for r in filt.rules_for(doc, rules)]

    every = [r.id for r in env_rules]
    quiet = [r.id for r in env_rules if not r.id.startswith("ENV")]
    for _ in range(2):  # alternating folders: each answer is its configuration's, not the last one's
        assert ids("loud", env_rules) == every
        assert ids("quiet", env_rules) == quiet
    first = filt.rules_for(Document(str(tmp_path / "loud" / "x.yml"), Kind.CONDA, "yaml"), env_rules)
    first.clear()  # a caller's list is its own: the next file still gets every rule
    assert ids("loud", env_rules) == every
    # Lists made afresh for each call (as `fix` does) are answered right, and not kept without bound.
    for i in range(3 * filters_kept()):
        rules = env_rules[: 1 + i % len(env_rules)]
        assert ids("loud", rules) == [r.id for r in rules]
    assert len(filt._rule_lists) <= filters_kept()


def filters_kept() -> int:
    from preflight import filters
    return filters._RULE_LISTS_KEPT


def test_judged_by_callers_answers_for_the_path_asked_about(tmp_path):
    from preflight.definitions import file_key

    main_a, module_a, main_b, module_b = (str(tmp_path / n) for n in ("a.bicep", "ma.bicep", "b.bicep", "mb.bicep"))
    filt = FindingFilter(Options())
    filt.module_calls.calls = {file_key(main_a): {file_key(module_a)}, file_key(main_b): {file_key(module_b)}}
    filt.expect_deployed([main_a, module_a, main_b])
    for _ in range(2):
        assert filt.judged_by_callers(module_a)
        assert not filt.judged_by_callers(main_a)
    assert filt.judged_by_callers(module_a)
    filt.expect_deployed([main_b, module_b])  # module_a is not scanned now: the answer goes with the old set
    assert not filt.judged_by_callers(module_a) and filt.judged_by_callers(module_b)


# ------------------------------------------------------------------------- parameter files


def test_pairing_ignores_the_case_of_the_template_suffix_and_needs_a_file(tmp_path):
    for name in ("Main.JSON", "main.parameters.json", "app.jsonc", "App.Parameters.Dev.json", "net.bicep",
                 "net.parameters.json", "lone.json"):
        write(tmp_path / name, "{}")
    (tmp_path / "lone.parameters.json").mkdir()  # a folder named like a parameter file is not one
    names = lambda paths: [Path(p).name for p in paths]  # noqa: E731
    assert names(paired_files(str(tmp_path / "Main.JSON"))) == ["main.parameters.json"]
    assert names(paired_files(str(tmp_path / "app.jsonc"))) == ["App.Parameters.Dev.json"]
    assert names(paired_files(str(tmp_path / "net.bicep"))) == ["net.parameters.json"]
    assert paired_files(str(tmp_path / "lone.json")) == []
    assert paired_files(str(tmp_path / "App.Parameters.Dev.json")) == []


def test_bicepparam_names_are_those_of_the_listing_given(tmp_path):
    """The .bicepparam names of the last listing are remembered: another folder's listing, or a
    list changed since, gets its own."""
    write(tmp_path / "a" / "main.bicep", "param n string\n")
    write(tmp_path / "a" / "dev.bicepparam", "using './main.bicep'\nparam n = 'x'\n")
    write(tmp_path / "b" / "main.bicep", "param n string\n")
    in_a, in_b = tuple(sorted(os.listdir(tmp_path / "a"))), tuple(sorted(os.listdir(tmp_path / "b")))
    for _ in range(2):
        assert bicepparam_for(str(tmp_path / "a" / "main.bicep"), str(tmp_path / "a"), in_a) == \
            [str(tmp_path / "a" / "dev.bicepparam")]
        assert bicepparam_for(str(tmp_path / "b" / "main.bicep"), str(tmp_path / "b"), in_b) == []
    listing = ["main.bicep"]
    assert bicepparam_for(str(tmp_path / "a" / "main.bicep"), str(tmp_path / "a"), listing) == []
    listing.append("dev.bicepparam")
    assert bicepparam_for(str(tmp_path / "a" / "main.bicep"), str(tmp_path / "a"), listing) == \
        [str(tmp_path / "a" / "dev.bicepparam")]


def test_a_parameter_file_is_named_as_each_template_shows_it(tmp_path):
    params = write(tmp_path / "azuredeploy.parameters.json",
                   json.dumps({"$schema": PSCHEMA, "parameters": {"n": {"value": "${NAME}"}}}))
    ctx = ScanContext(Options(), DocumentStore(Options()))
    relative = load_parameter_file(str(params), "proj/azuredeploy.parameters.json", ctx)
    absolute = load_parameter_file(str(params), str(params), ctx)
    assert relative is not None and absolute is not None
    assert relative.path == "proj/azuredeploy.parameters.json" and absolute.path == str(params)
    assert "proj/azuredeploy.parameters.json" in relative.values["n"].value.reason
    assert str(params) in absolute.values["n"].value.reason


# ------------------------------------------------------------------------- confinement


def test_a_folder_named_relative_or_absolute_has_one_root_recorded_by_its_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    with fs.scanning(["repo"]):
        for folder in ("repo/sub", str(tmp_path / "repo" / "sub"), "repo/sub"):
            with fs.recording() as deps:
                assert fs.confinement_root(folder) == os.path.realpath(tmp_path / "repo")
            assert list(deps) == [("root", str(tmp_path / "repo" / "sub"), None)]


def test_real_paths_resolved_from_their_folders_are_those_realpath_gives(tmp_path):
    """During a scan a path's real path is its folder's plus its name unless it is a link: the
    same answers as os.path.realpath, for links to folders, chains of links, links with `..`,
    dangling links, names that are not there and names below a file."""
    (tmp_path / "repo" / "a" / "b").mkdir(parents=True)
    (tmp_path / "elsewhere" / "c").mkdir(parents=True)
    (tmp_path / "repo" / "a" / "file.txt").write_text("x")
    os.symlink(tmp_path / "elsewhere", tmp_path / "repo" / "out")
    os.symlink("out", tmp_path / "repo" / "chain")
    os.symlink("../a/b", tmp_path / "repo" / "a" / "up")
    os.symlink(tmp_path / "gone", tmp_path / "repo" / "dangling")
    paths = ["repo/a/b", "repo/out/c", "repo/chain/c/d", "repo/a/up/x", "repo/dangling/y", "repo/none/z",
             "repo/a/file.txt/q", "repo/a/b", "repo/chain/c"]
    with fs.scanning([str(tmp_path / "repo")]):
        for rel in paths:
            path = str(tmp_path / rel)
            assert fs._realpath(path) == os.path.realpath(path), rel
        seen = os.path.realpath(tmp_path / "elsewhere" / "c")
        os.remove(tmp_path / "repo" / "chain")  # kept for the scan, as before: what the first check saw
        assert fs._realpath(str(tmp_path / "repo" / "chain" / "c")) == seen
    assert fs._realpath(str(tmp_path / "repo" / "chain" / "c")) == os.path.realpath(tmp_path / "repo" / "chain" / "c")
