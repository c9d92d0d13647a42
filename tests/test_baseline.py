"""Baseline: record today's findings, hide exactly those, report new ones (and fail on them)."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURES, run_cli, scan_json

ENV = """name: e
dependencies:
  - python=3.10.12
  - pip=23.3.1
  - pip:
      - numpy==1.26.4
      - requests>=2
      - pandas
"""


def rules(report):
    return sorted((f["path"], f["rule"], f["line"]) for f in report["findings"])


def write_baseline(cwd, *paths, baseline="baseline.json"):
    proc = run_cli("scan", *paths, "--write-baseline", baseline, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads((cwd / baseline).read_text())


def test_round_trip_only_new_findings_are_reported(tmp_path):
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "env.yml").write_text(ENV)
    assert run_cli("scan", "envs", "--fail-on", "warning", cwd=tmp_path).returncode == 1

    data = write_baseline(tmp_path, "envs")
    assert data["preflight-baseline"] == 1
    entries = data["findings"]
    assert [(e["rule"], e["path"], e["pointer"]) for e in entries] == [
        ("ENV005", "envs/env.yml", "/dependencies/2/pip/1"), ("ENV005", "envs/env.yml", "/dependencies/2/pip/2")]
    assert all(len(e["fingerprint"]) == 20 and "line" not in e for e in entries)

    report, proc = scan_json("envs", "--baseline", "baseline.json", cwd=tmp_path)
    assert report["findings"] == [] and proc.returncode == 0

    (tmp_path / "envs" / "new.yml").write_text(ENV.replace("pandas", "scipy"))
    report, proc = scan_json("envs", "--baseline", "baseline.json", "--fail-on", "warning", cwd=tmp_path)
    assert rules(report) == [("envs/new.yml", "ENV005", 7), ("envs/new.yml", "ENV005", 8)]
    assert proc.returncode == 1


def test_edits_elsewhere_keep_findings_hidden_but_changed_content_returns(tmp_path):
    (tmp_path / "env.yml").write_text(ENV)
    write_baseline(tmp_path, "env.yml")
    # New lines above move every finding (lines and pointers); they stay hidden.
    moved = ENV.replace("  - pip:\n", "  # the scoring image\n  - pip:\n      - scipy==1.11.4\n      - joblib==1.3.2\n")
    (tmp_path / "env.yml").write_text(moved)
    report, proc = scan_json("env.yml", "--baseline", "baseline.json", cwd=tmp_path)
    assert report["findings"] == [] and proc.returncode == 0
    # The offending requirement itself changed: a new finding.
    (tmp_path / "env.yml").write_text(moved.replace("requests>=2", "requests>=2.31"))
    report, proc = scan_json("env.yml", "--baseline", "baseline.json", "--fail-on", "warning", cwd=tmp_path)
    assert [f["message"] for f in report["findings"]] == [
        "pip package 'requests' is not pinned: `>=2.31` admits more than one version"]
    assert proc.returncode == 1


def test_identical_findings_are_counted(tmp_path):
    (tmp_path / "env.yml").write_text(ENV)
    write_baseline(tmp_path, "env.yml", "--select", "ENV005")
    (tmp_path / "env.yml").write_text(ENV + "      - pandas\n")  # a second, identical finding
    report, proc = scan_json("env.yml", "--select", "ENV005", "--baseline", "baseline.json", "--fail-on", "warning",
                             cwd=tmp_path)
    assert rules(report) == [("env.yml", "ENV005", 9)] and proc.returncode == 1


def test_baseline_paths_are_relative_to_the_baseline_file(tmp_path):
    project = tmp_path / "project"
    (project / "envs").mkdir(parents=True)
    (project / "envs" / "env.yml").write_text(ENV)
    write_baseline(project, "envs", baseline=".preflight-baseline.json")
    # From elsewhere, with the paths spelled differently: the same findings.
    report, proc = scan_json(str(project / "envs"), "--baseline", str(project / ".preflight-baseline.json"),
                             cwd=tmp_path)
    assert report["findings"] == [] and proc.returncode == 0


def test_baseline_with_config_and_suppressions(tmp_path):
    (tmp_path / "env.yml").write_text(ENV.replace("pandas", "pandas  # preflight: ignore[ENV005]"))
    data = write_baseline(tmp_path, "env.yml")
    assert [e["pointer"] for e in data["findings"]] == ["/dependencies/2/pip/1"]  # suppressed ones are not recorded


@pytest.mark.parametrize("content, expected", [
    (None, "cannot read the baseline"),
    ("{not json", "not a preflight baseline"),
    ('{"findings": []}', "not a preflight baseline"),
    ('{"preflight-baseline": 1, "findings": [{"rule": "ENV005"}]}', "lacks rule, path or fingerprint"),
])
def test_bad_baseline_exits_2(tmp_path, content, expected):
    (tmp_path / "env.yml").write_text(ENV)
    if content is not None:
        (tmp_path / "baseline.json").write_text(content)
    proc = run_cli("scan", "env.yml", "--baseline", "baseline.json", cwd=tmp_path)
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_baseline_exits_2(tmp_path):
    (tmp_path / "env.yml").write_text(ENV)
    proc = run_cli("scan", "env.yml", "--write-baseline", "missing-dir/baseline.json", cwd=tmp_path)
    assert proc.returncode == 2 and "cannot write the baseline" in proc.stderr


def test_sarif_fingerprints_are_the_baseline_fingerprints(tmp_path):
    (tmp_path / "env.yml").write_text(ENV)
    data = write_baseline(tmp_path, "env.yml")
    sarif = json.loads(run_cli("scan", "env.yml", "--format", "sarif", cwd=tmp_path).stdout)
    prints = sorted(r["partialFingerprints"]["preflight/v1"] for r in sarif["runs"][0]["results"])
    assert prints == sorted(e["fingerprint"] for e in data["findings"])


def test_round_trip_with_a_wiped_key_vault(tmp_path):
    shutil.copy(FIXTURES / "integrations" / "kv-wiped.json", tmp_path / "kv.json")
    write_baseline(tmp_path, ".")
    report, proc = scan_json(".", "--baseline", "baseline.json", cwd=tmp_path)
    assert report["findings"] == [] and proc.returncode == 0
    shutil.copy(FIXTURES / "integrations" / "kv-wiped.json", tmp_path / "kv-new.json")
    report, proc = scan_json(".", "--baseline", "baseline.json", cwd=tmp_path)
    assert {f["path"] for f in report["findings"]} == {"kv-new.json"}
    assert "KV001" in [f["rule"] for f in report["findings"]] and proc.returncode == 1
