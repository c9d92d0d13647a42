"""JUnit XML: parseable, one failure per finding naming the rule, the message and the location."""
from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

from conftest import FIXTURES, run_cli
from preflight.contract import ScanResult
from preflight.findings import WARNING, Finding
from preflight.report.junit_report import render

ENV = """name: e
dependencies:
  - python=3.10.12
  - pip=23.3.1
  - pip:
      - numpy==1.26.4
      - requests>=2
"""


def junit(*args, cwd):
    proc = run_cli("scan", "--format", "junit", *args, cwd=cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    return ET.fromstring(proc.stdout), proc


def test_failures_per_finding_and_passing_cases_for_clean_files(tmp_path):
    (tmp_path / "bad.yml").write_text(ENV)
    (tmp_path / "good.yml").write_text(ENV.replace("requests>=2", "requests==2.31.0"))
    root, proc = junit(".", "--fail-on", "warning", cwd=tmp_path)
    assert proc.returncode == 1
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures")) == ("2", "1")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert sorted(suites) == ["bad.yml", "good.yml"]
    [case] = suites["bad.yml"].iter("testcase")
    failure = case.find("failure")
    assert case.get("name").startswith("ENV005 ") and case.get("file") == "bad.yml" and case.get("line") == "7"
    assert failure.get("type").startswith("ENV005") and "ENV005" in failure.get("message")
    assert "requests" in failure.get("message")
    assert "bad.yml:7:9: ENV005 [warning]" in failure.text and "fix: " in failure.text
    [clean] = suites["good.yml"].iter("testcase")
    assert clean.find("failure") is None and suites["good.yml"].get("failures") == "0"


def test_clean_scan_still_has_a_test(tmp_path):
    (tmp_path / "good.yml").write_text(ENV.replace("requests>=2", "requests==2.31.0"))
    root, proc = junit(".", cwd=tmp_path)
    assert proc.returncode == 0 and root.get("tests") == "1" and root.get("failures") == "0"


def test_characters_xml_cannot_carry_are_escaped():
    f = Finding("ENV005", "pip-package-unpinned", WARNING, "a\x01.yml", "/x", "bad \x07 <value> & \ud800 \ufffe",
                line=3)
    text = render(ScanResult([f], 1, ["a\x01.yml"]))
    root = ET.fromstring(text.encode("utf-8"))  # would raise on a raw control character
    failure = next(root.iter("failure"))
    assert failure.get("message") == "ENV005: bad \\x07 <value> & \\ud800 \\ufffe"
    assert next(root.iter("testsuite")).get("name") == "a\\x01.yml"


def test_junit_failure_names_kv001(tmp_path):
    shutil.copy(FIXTURES / "integrations" / "kv-wiped.json", tmp_path / "kv.json")
    root, proc = junit("kv.json", cwd=tmp_path)
    failures = [f for f in root.iter("failure") if f.get("type").startswith("KV001")]
    assert failures and proc.returncode == 1
    assert failures[0].get("type") == "KV001 (error)" and failures[0].text.startswith("kv.json:")
