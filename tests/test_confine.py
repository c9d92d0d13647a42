"""Paths that file content names stay inside the repository (preflight.fs.confine).

A scanned repository is untrusted: a `-r` include, a Bicep module, a linked template or a
config's file reference that leaves it (`../`, an absolute path, a symlink) is never opened,
and nothing it holds reaches a report; a finding at the line that names it says so. Paths that
stay inside (`../` from a subfolder to the repository root included) are followed as before.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import run_cli, scan_json

SECRET = "sk-CANARY-7f3a9c1e5b"
SECRET_FILE = (f'{{"AccessToken": {{"secret": "{SECRET}"}}}}\n'
               f"secret_token={SECRET}\n--index-url http://user:{SECRET}@example.com/simple\n"
               f"{SECRET}-package>=1\n")
CONDA_HEAD = "name: e\ndependencies:\n  - python=3.10.13\n  - pip=23.3.1\n  - pip:\n"


def _repo(tmp_path: Path) -> Path:
    """tmp/outside.txt (a secret-looking file) beside tmp/repo (a repository: it has `.git`)."""
    (tmp_path / "outside.txt").write_text(SECRET_FILE)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "env").mkdir()
    return repo


def _conda(repo: Path, *pip_lines: str) -> Path:
    path = repo / "env" / "conda.yml"
    path.write_text(CONDA_HEAD + "".join(f"      - {line}\n" for line in pip_lines)
                    + "      - numpy==1.26.4\n")
    return path


def _outputs(target: Path, cwd: Path | None = None) -> dict[str, str]:
    out = {}
    for fmt in ("text", "json", "sarif"):
        proc = run_cli("scan", "--format", fmt, str(target), cwd=cwd)
        assert "Traceback" not in proc.stderr, proc.stderr
        out[fmt] = proc.stdout + proc.stderr
    return out


def _findings(target: Path, cwd: Path | None = None) -> list[dict]:
    report, _ = scan_json(str(target), cwd=cwd)
    return report["findings"]


def _assert_no_leak(outputs: dict[str, str]) -> None:
    for fmt, text in outputs.items():
        assert SECRET not in text, f"{fmt} output quotes the file outside the repository"
        assert "root:x:0:0" not in text, f"{fmt} output quotes /etc/passwd"


@pytest.mark.parametrize("line", ["-r ../../outside.txt", "-c ../../outside.txt", "-r link.txt",
                                  "-r {outside}", "--requirement=../../outside.txt"])
def test_an_include_outside_the_repository_is_reported_and_never_read(tmp_path, line):
    repo = _repo(tmp_path)
    os.symlink(tmp_path / "outside.txt", repo / "env" / "link.txt")  # inside, pointing outside
    _conda(repo, line.format(outside=tmp_path / "outside.txt"))
    outputs = _outputs(repo)
    _assert_no_leak(outputs)
    findings = json.loads(outputs["json"])["findings"]
    at_include = [f for f in findings if f["line"] == 6]
    assert [(f["rule"], f["severity"]) for f in at_include] == [("ENV009", "warning")], findings
    assert "outside the repository" in at_include[0]["message"] and "not read" in at_include[0]["message"]
    sarif = json.loads(outputs["sarif"])
    results = sarif["runs"][0]["results"]
    assert any(r["ruleId"] == "ENV009" and "outside the repository" in r["message"]["text"] for r in results)


def test_without_the_fix_the_outside_file_would_be_read(tmp_path):
    """The same include inside the repository is read: its lines count (and none is quoted)."""
    repo = _repo(tmp_path)
    (repo / "inside.txt").write_text(SECRET_FILE)
    _conda(repo, "-r ../inside.txt")
    outputs = _outputs(repo)
    _assert_no_leak(outputs)
    findings = json.loads(outputs["json"])["findings"]
    rules = sorted(f["rule"] for f in findings)
    # The lines were read: two unparsable ones, an HTTP index, an unpinned package; only its name shows.
    assert rules == ["ENV005", "ENV009", "ENV009", "ENV010"], findings
    unpinned = next(f for f in findings if f["rule"] == "ENV005")
    assert "(inside.txt line 4)" in unpinned["message"]
    assert all("outside the repository" not in f["message"] for f in findings)


def test_includes_inside_the_repository_still_count(tmp_path):
    repo = _repo(tmp_path)
    (repo / "base.txt").write_text("requests>=2\n-r env/more.txt\n")
    (repo / "env" / "more.txt").write_text("pandas\n-r ../../outside.txt\n")
    _conda(repo, "-r ../base.txt")  # `../` from a subfolder to the repository root
    findings = _findings(repo)
    shown = sorted((f["rule"], f["message"]) for f in findings)
    assert ("ENV005", "pip package 'requests' (base.txt line 1) is not pinned: its specifier admits more than "
            "one version") in shown
    assert ("ENV005", "pip package 'pandas' (more.txt line 1) is not pinned: no version is given") in shown
    # The nested include that leaves is shown by where it is, not by its text.
    outside = [m for r, m in shown if r == "ENV009"]
    assert outside == ["the `-r` line at more.txt line 2 names a file outside the repository: it is not read"]


def test_without_a_repository_the_scanned_folder_is_the_limit(tmp_path):
    (tmp_path / "outside.txt").write_text(SECRET_FILE)
    project = tmp_path / "project"
    (project / "env").mkdir(parents=True)
    (project / "base.txt").write_text("requests\n")
    _conda(project, "-r ../base.txt", "-r ../../outside.txt")
    outputs = _outputs(project)
    _assert_no_leak(outputs)
    findings = json.loads(outputs["json"])["findings"]
    assert [f["line"] for f in findings if f["rule"] == "ENV009"] == [7]
    assert any(f["rule"] == "ENV005" and "'requests' (base.txt line 1)" in f["message"] for f in findings)


def test_a_file_named_directly_is_confined_to_the_working_folder(tmp_path):
    (tmp_path / "outside.txt").write_text(SECRET_FILE)
    work = tmp_path / "work"
    (work / "env").mkdir(parents=True)
    conda = _conda(work, "-r ../../outside.txt")
    outputs = _outputs(conda.relative_to(work), cwd=work)
    _assert_no_leak(outputs)
    assert [f["rule"] for f in json.loads(outputs["json"])["findings"]] == ["ENV009"]


def test_serving_rules_say_the_include_was_not_read(tmp_path):
    repo = _repo(tmp_path)
    _conda(repo, "-r ../../outside.txt")
    (repo / "env" / "inferenceconfig.json").write_text('{"entryScript": "score.py", "condaFile": "conda.yml"}')
    (repo / "env" / "score.py").write_text("def init():\n    pass\n\n\ndef run(data):\n    return data\n")
    findings = _findings(repo)
    env001 = [f for f in findings if f["rule"] == "ENV001"]
    assert len(env001) == 1 and "`-r ../../outside.txt` (outside the repository) could not be read" \
        in env001[0]["message"]


# ------------------------------------------------------------------------------ Bicep

KEYVAULT_MODULE = """param policies array = []
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-confine'
  location: resourceGroup().location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    accessPolicies: policies
  }
}
"""


def test_a_bicep_module_outside_the_repository_is_never_read(tmp_path):
    repo = _repo(tmp_path)
    (tmp_path / "x.bicep").write_text(f"resource {SECRET} nonsense\n")
    (repo / "infra").mkdir()
    (repo / "infra" / "main.bicep").write_text(
        "module outside '../../x.bicep' = {\n  name: 'outside'\n}\n\n"
        "module passwd '/etc/passwd' = {\n  name: 'passwd'\n}\n\n"
        "var text = loadTextContent('../../outside.txt')\noutput t string = text\n")
    outputs = _outputs(repo)
    _assert_no_leak(outputs)
    notes = sorted((f["line"], f["rule"], f["message"]) for f in json.loads(outputs["json"])["findings"])
    assert notes == [
        (1, "PF010", "module 'outside': '../../x.bicep' is outside the repository; not read"),
        (5, "PF010", "module 'passwd': '/etc/passwd' is outside the repository; not read"),
        (9, "PF010", "'../../outside.txt' is outside the repository; loadTextContent() is not evaluated"),
    ]


def test_a_bicep_module_inside_the_repository_is_still_checked(tmp_path):
    repo = _repo(tmp_path)
    (repo / "modules").mkdir()
    (repo / "modules" / "kv.bicep").write_text(KEYVAULT_MODULE)
    (repo / "infra").mkdir()
    (repo / "infra" / "main.bicep").write_text("module kv '../modules/kv.bicep' = {\n  name: 'kv'\n}\n")
    findings = _findings(repo / "infra")
    # Reported where it is fixed, in the module, under the caller that deploys it.
    assert any(f["rule"] == "KV001" and f["path"].endswith("modules/kv.bicep")
               and [c.rsplit("/", 1)[-1] for c in f["data"]["callers"]] == ["main.bicep:1"] for f in findings), findings


def test_a_symlinked_bicep_module_leading_outside_is_refused(tmp_path):
    repo = _repo(tmp_path)
    (tmp_path / "kv.bicep").write_text(KEYVAULT_MODULE)
    os.symlink(tmp_path / "kv.bicep", repo / "kv.bicep")
    (repo / "main.bicep").write_text("module kv 'kv.bicep' = {\n  name: 'kv'\n}\n")
    findings = _findings(repo / "main.bicep")
    assert [(f["rule"], f["message"]) for f in findings if f["path"].endswith("main.bicep")] == [
        ("PF010", "module 'kv': 'kv.bicep' is outside the repository; not read")]


# ------------------------------------------------------------------ ARM and deploy configs

LINKING_TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "resources": [{
        "type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "linked",
        "properties": {"mode": "Incremental", "templateLink": {"relativePath": "REL"}},
    }],
}
LINKED_VAULT = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "resources": [{
        "type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv-linked",
        "location": "westeurope",
        "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
                       "accessPolicies": []},
    }],
}


@pytest.mark.parametrize("relative, inside", [("../shared/vault.json", True), ("../../vault.json", False)])
def test_a_linked_template_is_followed_only_inside_the_repository(tmp_path, relative, inside):
    repo = _repo(tmp_path)
    (repo / "shared").mkdir()
    (repo / "shared" / "vault.json").write_text(json.dumps(LINKED_VAULT))
    (tmp_path / "vault.json").write_text(json.dumps(LINKED_VAULT))
    (repo / "infra").mkdir()
    (repo / "infra" / "main.json").write_text(json.dumps(LINKING_TEMPLATE).replace("REL", relative))
    findings = _findings(repo / "infra")
    assert any(f["rule"] == "KV001" for f in findings) is inside, findings


def test_deployment_paths_outside_the_repository_are_not_followed(tmp_path):
    repo = _repo(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text(f"def init(:\n    '{SECRET}'\n")
    (tmp_path / "conda.yml").write_text(CONDA_HEAD + "      - numpy\n")
    (repo / "deploy").mkdir()
    (repo / "deploy" / "blue.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        "name: blue\nendpoint_name: ep\nmodel: azureml:m:1\n"
        "code_configuration:\n  code: ../../src\n  scoring_script: score.py\n"
        "environment:\n  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest\n"
        "  conda_file: /etc/passwd\n"
        "instance_type: Standard_DS3_v2\ninstance_count: 1\n")
    (repo / "deploy" / "inferenceconfig.json").write_text(
        json.dumps({"entryScript": "../../src/score.py", "condaFile": "../../conda.yml"}))
    outputs = _outputs(repo)
    _assert_no_leak(outputs)
    outside = sorted((Path(f["path"]).name, f["rule"], f["line"]) for f in json.loads(outputs["json"])["findings"]
                     if "outside the repository" in f["message"])
    assert outside == [("blue.yml", "DEP021", 6), ("blue.yml", "DEP021", 10), ("inferenceconfig.json", "DEP018", 1),
                       ("inferenceconfig.json", "DEP021", 1)], outside


# ------------------------------------------------------------------------------ the cache

@pytest.fixture
def cache_allowed(monkeypatch):
    monkeypatch.delenv("PREFLIGHT_NO_CACHE", raising=False)


def _scan_cached(target: Path, cache: Path):
    from preflight.cli import build_options, build_parser
    from preflight.engine import scan

    parsed = build_parser().parse_args(["scan", str(target), "--cache-dir", str(cache)])
    options, _ = build_options(parsed)
    return scan(parsed.paths, options)


def _rules(result) -> list[str]:
    return sorted(f.rule for f in result.findings)


def test_a_cached_result_holds_only_while_the_repository_does(tmp_path, cache_allowed):
    repo = _repo(tmp_path)
    (repo / "base.txt").write_text("requests\n")
    _conda(repo, "-r ../base.txt")
    cache = tmp_path / "cache"
    assert _rules(_scan_cached(repo / "env", cache)) == ["ENV005"]
    again = _scan_cached(repo / "env", cache)
    assert again.cache_hits == 1 and _rules(again) == ["ENV005"]
    # Without `.git` the scanned folder, env/, confines: base.txt is now out of reach.
    (repo / ".git").rmdir()
    assert _rules(_scan_cached(repo / "env", cache)) == ["ENV009"]


def test_a_cached_result_follows_a_retargeted_symlink(tmp_path, cache_allowed):
    repo = _repo(tmp_path)
    (repo / "base.txt").write_text("requests\n")
    os.symlink(tmp_path / "outside.txt", repo / "env" / "link.txt")
    _conda(repo, "-r link.txt")
    cache = tmp_path / "cache"
    assert _rules(_scan_cached(repo, cache)) == ["ENV009"]
    assert _scan_cached(repo, cache).cache_hits == 1
    (repo / "env" / "link.txt").unlink()  # the refused file was never read: only the link tells
    os.symlink(repo / "base.txt", repo / "env" / "link.txt")
    assert _rules(_scan_cached(repo, cache)) == ["ENV005"]


def test_a_bicepparam_using_pairs_only_inside_the_repository(tmp_path):
    from preflight.bicep.links import using_target

    repo = _repo(tmp_path)
    (repo / "params").mkdir()
    param = repo / "params" / "main.bicepparam"
    assert using_target(str(param), "using '../main.bicep'\n") == str(repo / "main.bicep")
    assert using_target(str(param), "using '../../main.bicep'\n") is None
    assert using_target(str(param), "using '/etc/passwd'\n") is None


def test_a_symlink_retargeted_between_two_scans_is_judged_again(tmp_path):
    """A path's real path is looked up once per scan (many files name the same module): the
    next scan, after the link was turned to lead outside, refuses it."""
    from preflight import fs

    repo = _repo(tmp_path)
    (repo / "inside.txt").write_text("ok\n")
    link = repo / "env" / "link.txt"
    link.symlink_to(repo / "inside.txt")
    with fs.scanning([str(repo)]):
        assert fs.confine("link.txt", str(repo / "env")) == str(link)
        assert fs.confine("./link.txt", str(repo / "env")) == str(link)  # the same path: kept
    link.unlink()
    link.symlink_to(tmp_path / "outside.txt")
    with fs.scanning([str(repo)]):
        assert fs.confine("link.txt", str(repo / "env")) is None


def test_each_folder_is_confined_to_its_nearest_repository_looked_up_again_each_scan(tmp_path):
    """Folders share what is above them (looked at once per scan): a repository inside another
    is still the root of the folders below it, and one made between two scans is seen."""
    from preflight import fs

    outer = tmp_path / "outer"
    inner = outer / "a" / "inner"
    for folder in (outer / ".git", inner / ".git", inner / "b" / "c", outer / "a" / "d"):
        folder.mkdir(parents=True)
    with fs.scanning([str(outer)]):
        assert fs.confinement_root(str(inner / "b" / "c")) == os.path.realpath(inner)
        assert fs.confinement_root(str(outer / "a" / "d")) == os.path.realpath(outer)
        assert fs.confinement_root(str(outer / "a")) == os.path.realpath(outer)
        assert fs.confinement_root(str(inner / "b")) == os.path.realpath(inner)
    (outer / "a" / "d" / ".git").mkdir()
    with fs.scanning([str(outer)]):
        assert fs.confinement_root(str(outer / "a" / "d")) == os.path.realpath(outer / "a" / "d")
        assert fs.confinement_root(str(outer / "a")) == os.path.realpath(outer)


def test_a_name_confined_again_in_a_scan_is_judged_for_each_scanned_folder_and_recorded(tmp_path):
    """Within a scan a name is resolved once from a folder, but each check still gets its own
    verdict (the root depends on the scanned file's folder) and records what it looked at."""
    from preflight import fs

    outer = tmp_path / "outer"
    inner = outer / "inner"
    for folder in (outer / ".git", inner / ".git", inner / "sub"):
        folder.mkdir(parents=True)
    (outer / "shared.yml").write_text("x\n")
    named, base = "../../shared.yml", str(inner / "sub")
    with fs.scanning([str(outer)]):
        for _ in range(2):
            with fs.recording() as deps:
                assert fs.confine(named, base) is None  # from inner's files: outside inner
            assert deps[("realpath", str(outer / "shared.yml"), None)] == os.path.realpath(outer / "shared.yml")
            assert deps[("root", base, None)] == os.path.realpath(inner)
            with fs.recording() as deps:
                assert fs.confine(named, base, str(outer)) == str(outer / "shared.yml")
            assert deps[("root", str(outer), None)] == os.path.realpath(outer)
            assert ("realpath", str(outer / "shared.yml"), None) in deps


def test_system_folders_are_never_followed_even_from_a_scan_of_the_root(tmp_path):
    from preflight import fs

    if not os.path.isdir("/proc/self") or os.path.exists("/.git"):
        pytest.skip("needs /proc and no repository at /")
    os.symlink("/proc/self", tmp_path / "me")
    (tmp_path / "plain.yml").write_text("x\n")
    with fs.scanning(["/"]):
        for _ in range(2):
            assert fs.confinement_root(str(tmp_path)) == "/"
            assert fs.confine("me/status", str(tmp_path)) is None
            assert fs.confine("plain.yml", str(tmp_path)) == str(tmp_path / "plain.yml")
            assert fs.confine("../" * 40 + "proc/self/status", str(tmp_path)) is None
