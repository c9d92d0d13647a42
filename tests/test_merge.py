"""`preflight merge`: shard reports of real scans combined into one JSON or SARIF report."""
from __future__ import annotations

import itertools
import json
import shutil

import jsonschema
import pytest

from conftest import FIXTURES, run_cli
from preflight import __version__

SCHEMA_FILE = FIXTURES / "integrations" / "sarif-schema-2.1.0.json"
ENV = """name: e
dependencies:
  - python=3.10.12
  - pip=23.3.1
  - pip:
      - numpy==1.26.4
      - requests>=2
"""


@pytest.fixture
def repo(tmp_path):
    """A small monorepo: a template with its parameter file (errors), a v1 deployment whose
    inference config links its conda file (errors, warnings, info), and an environment (a warning)."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "demo" / "infra", root / "infra")
    shutil.copytree(FIXTURES / "demo" / "deploy", root / "deploy")
    (root / "envs").mkdir()
    (root / "envs" / "env.yml").write_text(ENV)
    return root


def scan(repo, *paths, output=None):
    args = ["scan", *paths, "--format", "json", "--fail-on", "never"]
    proc = run_cli(*args, *(["--output", output] if output else []), cwd=repo)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return json.loads((repo / output).read_text()) if output else json.loads(proc.stdout)


def merge(repo, *args):
    proc = run_cli("merge", *args, cwd=repo)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def shards(repo, *groups):
    names = []
    for i, paths in enumerate(groups):
        names.append(f"shard-{i}.json")
        scan(repo, *paths, output=names[-1])
    return names


def validate(log):
    jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text())).validate(log)


def test_merged_shards_equal_one_scan_whatever_their_order(repo):
    names = shards(repo, ["infra"], ["deploy"], ["envs"])
    full = scan(repo, "infra", "deploy", "envs")
    outputs = set()
    for order in itertools.permutations(names):
        proc = merge(repo, *order)
        assert proc.returncode == 1  # errors, at the default --fail-on warning
        outputs.add(proc.stdout)
    assert len(outputs) == 1  # byte-identical
    merged = json.loads(outputs.pop())
    assert merged == full  # the same findings, in the scan's order, and the same summary
    assert merged["summary"] == {"files": 7, "findings": 18, "errors": 7, "warnings": 9, "info": 2}
    assert merged["version"] == __version__


def test_a_finding_of_two_shards_is_reported_once(repo):
    a, b = shards(repo, ["infra", "deploy"], ["deploy", "envs"])
    ra, rb = json.loads((repo / a).read_text()), json.loads((repo / b).read_text())
    full = scan(repo, "infra", "deploy", "envs")
    merged = json.loads(merge(repo, a, b).stdout)
    assert len(ra["findings"]) + len(rb["findings"]) > len(full["findings"])  # the overlap is real
    assert merged["findings"] == full["findings"]
    assert merged["summary"]["findings"] == len(full["findings"]) == 18
    # Reports do not list the files they checked: `files` is the sum of the shards' counts.
    assert merged["summary"]["files"] == ra["summary"]["files"] + rb["summary"]["files"] == 11
    # The same report named twice is read once.
    again = json.loads(merge(repo, a, b, a, f"./{b}").stdout)
    assert again == merged


def test_reports_that_list_checked_paths_count_a_file_once(repo):
    a, b = shards(repo, ["infra", "deploy"], ["deploy", "envs"])
    for name, checked in ((a, ["infra/azuredeploy.json", "infra/azuredeploy.parameters.json", "deploy/score.py"]),
                          (b, ["deploy/score.py", "envs/env.yml"])):
        report = json.loads((repo / name).read_text())
        report["checked"] = checked
        (repo / name).write_text(json.dumps(report))
    c_report = scan(repo, "envs")
    c_report.pop("checked", None)
    (repo / "shard-c.json").write_text(json.dumps(c_report))
    assert json.loads(merge(repo, a, b).stdout)["summary"]["files"] == 4
    # A report without the list adds its own count.
    assert json.loads(merge(repo, a, b, "shard-c.json").stdout)["summary"]["files"] == 5


def test_fingerprints_decide_identity_when_findings_carry_them(repo):
    base = scan(repo, "envs")
    [finding] = base["findings"]
    assert finding["fingerprint"]  # scan reports carry them
    finding = {k: v for k, v in finding.items() if k != "fingerprint"}
    report = dict(base, findings=[dict(finding, fingerprint="aaaa"), dict(finding, fingerprint="bbbb")])
    (repo / "fp.json").write_text(json.dumps(report))
    (repo / "plain.json").write_text(json.dumps(dict(base, findings=[finding])))  # an older report
    upgraded = dict(base, findings=[dict(finding, severity="error", fingerprint="aaaa")])
    (repo / "upgraded.json").write_text(json.dumps(upgraded))
    merged = json.loads(merge(repo, "plain.json", "fp.json").stdout)
    assert len(merged["findings"]) == 2  # two fingerprints: two findings; the plain one is one of them
    log = json.loads(merge(repo, "fp.json", "plain.json", "--format", "sarif").stdout)
    validate(log)
    assert [r["partialFingerprints"] for r in log["runs"][0]["results"]] == [
        {"preflight/v1": "aaaa"}, {"preflight/v1": "bbbb"}]
    # Shards that disagree on a finding's severity (a [severity] override): the highest wins.
    for order in (("fp.json", "upgraded.json"), ("upgraded.json", "fp.json")):
        merged = json.loads(merge(repo, *order, "--fail-on", "never").stdout)
        assert [f["severity"] for f in merged["findings"]] == ["error", "warning"]
        assert merged["summary"]["errors"] == 1 and merged["summary"]["warnings"] == 1


def test_sarif_is_valid_deterministic_and_the_scans_own(repo):
    names = shards(repo, ["infra"], ["deploy", "envs"], ["envs"])
    logs = set()
    for order in (names, names[::-1]):
        out = f"merged-{len(logs)}.sarif"
        proc = merge(repo, *order, "--format", "sarif", "--output", out)
        assert proc.returncode == 1 and proc.stdout == ""
        logs.add((repo / out).read_text())
    assert len(logs) == 1
    log = json.loads(logs.pop())
    validate(log)
    proc = run_cli("scan", "infra", "deploy", "envs", "--format", "sarif", cwd=repo)
    scanned = json.loads(proc.stdout)
    [run], [scan_run] = log["runs"], scanned["runs"]
    assert run["tool"] == scan_run["tool"]  # the same rules metadata
    assert run["originalUriBaseIds"] == scan_run["originalUriBaseIds"]
    assert run["results"] == scan_run["results"]  # fingerprints included: alerts stay stable


@pytest.mark.parametrize("fail_on, code", [(None, 0), ("warning", 1), ("info", 1), ("error", 0), ("never", 0)])
def test_exit_code_follows_fail_on(repo, fail_on, code):
    [warnings_only] = shards(repo, ["envs"])
    args = ["--fail-on", fail_on] if fail_on else []
    assert merge(repo, warnings_only, *args).returncode == code


def test_exit_code_with_errors_and_from_the_configuration(repo):
    [name] = shards(repo, ["infra"])
    assert merge(repo, name, "--fail-on", "error").returncode == 1
    assert merge(repo, name, "--fail-on", "never").returncode == 0
    [warnings_only] = shards(repo, ["envs"])
    (repo / ".preflight.toml").write_text('fail-on = "error"\n')
    assert merge(repo, warnings_only).returncode == 0
    assert merge(repo, warnings_only, "--fail-on", "warning").returncode == 1


def test_split_by_file_still_sees_the_linking_config_nearby(repo):
    """A conda file in a shard of its own is still judged by the inference config beside it
    (the linking documents near a named file are read as context), so the merged report of a
    by-file split keeps ENV001, reported once."""
    a, b = shards(repo, ["deploy/environment.yml"], ["deploy/inferenceconfig.json", "deploy/score.py",
                                                      "deploy/aks-deployconfig.yml"])
    merged = [f["rule"] for f in json.loads(merge(repo, a, b).stdout)["findings"]]
    assert "ENV001" in {f["rule"] for f in scan(repo, "deploy")["findings"]}
    assert merged.count("ENV001") == 1


def _report(**changes):
    finding = {"rule": "ENV005", "name": "pip-package-unpinned", "severity": "warning", "path": "envs/env.yml",
               "line": 7, "column": 9, "message": "m", "pointer": "/dependencies/2/pip/1"}
    base = {"version": __version__, "findings": [finding],
            "summary": {"files": 1, "findings": 1, "errors": 0, "warnings": 1, "info": 0}}
    if "finding" in changes:
        base["findings"] = [{**finding, **changes.pop("finding")}]
    return json.dumps({**base, **changes})


@pytest.mark.parametrize("text, reason", [
    ("envs/env.yml: not json", "invalid JSON"),
    ("[]", "not a JSON object"),
    ('{"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": []}', "SARIF"),
    ('{"preflight-baseline": 1, "findings": []}', "baseline"),
    ('{"version": "0.1.0", "summary": {"files": 1}}', "no findings list"),
    (_report(summary={}), "summary.files"),
    (_report(version="latest"), "no version"),
    (_report(finding={"rule": None}), "findings[0].rule"),
    (_report(finding={"line": "7"}), "findings[0].line"),
    (_report(finding={"severity": "fatal"}), "findings[0].severity"),
    (_report(finding={"data": []}), "findings[0]"),
])
def test_refuses_what_is_not_a_preflight_json_report(repo, text, reason):
    [good] = shards(repo, ["envs"])
    (repo / "bad.json").write_text(text)
    for order in ((good, "bad.json"), ("bad.json", good)):
        proc = merge(repo, *order, "--output", "out.json")
        assert proc.returncode == 2
        assert "bad.json: not a preflight JSON report" in proc.stderr and reason in proc.stderr
        assert not (repo / "out.json").exists() and proc.stdout == ""


def test_refuses_another_major_version_and_missing_files(repo):
    [good] = shards(repo, ["envs"])
    major = int(__version__.split(".")[0])
    (repo / "old.json").write_text(_report(version=f"{major + 1}.0.0"))
    (repo / "minor.json").write_text(_report(version=f"{major}.99.0"))
    proc = merge(repo, good, "old.json")
    assert proc.returncode == 2 and "old.json: report of preflight" in proc.stderr and "major" in proc.stderr
    assert merge(repo, good, "minor.json", "--fail-on", "warning").returncode == 1  # the same major version merges
    proc = merge(repo, good, "missing.json")
    assert proc.returncode == 2 and "missing.json: no such file" in proc.stderr
    assert merge(repo).returncode == 2  # at least one report
