"""SARIF 2.1.0: valid against the OASIS schema, with rule metadata, help and stable fingerprints."""
from __future__ import annotations

import json
import re
import shutil

import jsonschema
import pytest

from conftest import FIXTURES, SHARED, run_cli
from preflight.contract import REGISTRY
from preflight.rulepacks import load_rule_packs

SCHEMA_FILE = FIXTURES / "integrations" / "sarif-schema-2.1.0.json"
ENV = """name: e
dependencies:
  - python=3.10.12
  - pip=23.3.1
  - pip:
      - numpy==1.26.4
      - requests>=2  # preflight: ignore[ENV004]
"""


def sarif(*args, cwd):
    proc = run_cli("scan", "--format", "sarif", *args, cwd=cwd)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout), proc


def validate(log):
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft7Validator(schema).validate(log)


def test_vendored_schema_is_the_shared_one():
    shared = SHARED / "schemas" / "sarif-schema-2.1.0.json"
    if not shared.is_file():
        pytest.skip("../shared/schemas is not present")
    assert json.loads(shared.read_text()) == json.loads(SCHEMA_FILE.read_text())


def test_sarif_is_valid_and_describes_every_rule(tmp_path):
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "env.yml").write_text(ENV)
    log, proc = sarif("envs", "--fail-on", "warning", cwd=tmp_path)
    validate(log)
    assert proc.returncode == 1 and log["version"] == "2.1.0"
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "preflight" and driver["version"]
    load_rule_packs()
    assert [r["id"] for r in driver["rules"]] == sorted(REGISTRY)
    for r in driver["rules"]:
        rule = REGISTRY[r["id"]]
        assert r["shortDescription"]["text"] == rule.summary
        assert r["fullDescription"]["text"] and r["help"]["text"] and r["help"]["markdown"]
        assert r["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning", "info": "note"}[
            str(rule.severity)]
        assert re.fullmatch(r"[A-Za-z0-9]+", r["name"])
        # docs/rules.md has a `## ID` heading per rule (tests/test_docs.py keeps it fresh).
        anchor = r["helpUri"].rsplit("#", 1)[1]
        assert r["helpUri"].split("#")[0].endswith("docs/rules.md") and anchor == r["id"].lower()
    env005 = next(r for r in driver["rules"] if r["id"] == "ENV005")
    assert "What it does" in env005["help"]["text"] and "pinned" in env005["fullDescription"]["text"]


def test_results_carry_rule_level_message_location_and_fingerprint(tmp_path):
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "env.yml").write_text(ENV)
    log, _ = sarif("envs/env.yml", cwd=tmp_path)
    [run] = log["runs"]
    results = sorted(run["results"], key=lambda r: r["ruleId"])
    assert [(r["ruleId"], r["level"]) for r in results] == [("ENV005", "warning"), ("PF004", "note")]
    env005 = results[0]
    assert "requests" in env005["message"]["text"]
    location = env005["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "envs/env.yml", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 7, "startColumn": 9}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"
    assert run["tool"]["driver"]["rules"][env005["ruleIndex"]]["id"] == "ENV005"
    assert set(env005["partialFingerprints"]) == {"preflight/v1"}


def test_fingerprints_survive_edits_elsewhere(tmp_path):
    (tmp_path / "env.yml").write_text(ENV)
    before, _ = sarif("env.yml", "--select", "ENV005", cwd=tmp_path)
    (tmp_path / "env.yml").write_text(ENV.replace("  - pip:\n", "  - pip:\n      - scipy==1.11.4\n"))
    after, _ = sarif("env.yml", "--select", "ENV005", cwd=tmp_path)
    [b], [a] = before["runs"][0]["results"], after["runs"][0]["results"]
    assert b["locations"][0]["physicalLocation"]["region"]["startLine"] == 7
    assert a["locations"][0]["physicalLocation"]["region"]["startLine"] == 8
    assert a["partialFingerprints"] == b["partialFingerprints"]


def test_file_outside_the_scan_root_gets_an_absolute_uri(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere" / "env.yml").write_text(ENV)
    log, _ = sarif(str(tmp_path / "elsewhere"), "--select", "ENV005", cwd=tmp_path / "root")
    validate(log)
    [result] = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": (tmp_path / "elsewhere" / "env.yml").as_uri()}


def test_clean_scan_is_valid_with_no_results(tmp_path):
    (tmp_path / "env.yml").write_text(ENV.replace("requests>=2  # preflight: ignore[ENV004]", "requests==2.31.0"))
    log, proc = sarif(".", cwd=tmp_path)
    validate(log)
    assert log["runs"][0]["results"] == [] and proc.returncode == 0


def test_parse_error_location_is_the_parsers(tmp_path):
    (tmp_path / "t.json").write_text('{\n  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/'
                                     'deploymentTemplate.json#",\n  "resources": [ { "type": "x" "name": "y"} ]\n}\n')
    log, _ = sarif(".", cwd=tmp_path)
    validate(log)
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "PF001" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 3


def test_kv001_in_sarif(tmp_path):
    shutil.copy(FIXTURES / "integrations" / "kv-wiped.json", tmp_path / "kv.json")
    log, proc = sarif("kv.json", cwd=tmp_path)
    validate(log)
    kv001 = [r for r in log["runs"][0]["results"] if r["ruleId"] == "KV001"]
    assert kv001 and kv001[0]["level"] == "error" and proc.returncode == 1
    assert kv001[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "kv.json"
