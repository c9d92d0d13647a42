"""Reports of hostile repositories: what a scanned file holds (newlines, escape sequences, lone
surrogates, names that are not UTF-8, a link where the report goes, a FIFO or a bottomless
file where a baseline is read) never becomes a command, a write outside, or a lost scan."""
from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from conftest import FIXTURES, run_cli, scan_json
from preflight import output
from preflight.output import OutputError, write_file

SCHEMA_FILE = FIXTURES / "integrations" / "sarif-schema-2.1.0.json"
# A pip requirement that smuggles a workflow command on a line of its own, a terminal colour,
# a line separator and the runner's older `##[command]` form (found anywhere in a line).
HOSTILE_ENV = r"""name: e
dependencies:
  - python=3.10.12
  - pip=23.3.1
  - pip:
      - "requests\n::error title=forged::x\e[31mred\u2028##[warning]old-form>=2"
"""
# What the text report shows of that requirement: every control escaped, on one line.
HOSTILE_SHOWN = r"requests\n::error title=forged::x\x1b[31mred\u2028#\x23[warning]old-form>=2"
# A wiped Key Vault whose name holds a lone surrogate (JSON allows the escape; UTF-8 cannot
# encode it).
SURROGATE_TEMPLATE = r"""{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "resources": [
    {
      "type": "Microsoft.KeyVault/vaults",
      "apiVersion": "2023-07-01",
      "name": "kv-\ud800-x",
      "location": "westeurope",
      "properties": {
        "tenantId": "[subscription().tenantId]",
        "sku": {"family": "A", "name": "standard"},
        "accessPolicies": []
      }
    }
  ]
}
"""
ANNOTATION = re.compile(r"::(error|warning|notice) file=[^,:]*,line=\d+,col=\d+,title=[A-Z]+\d+::")


def validate_sarif(log: dict) -> None:
    jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text())).validate(log)


def no_command_lines(text: str) -> None:
    """No line a GitHub runner would read as a workflow command, and no terminal escape."""
    assert "\x1b" not in text
    for line in text.splitlines():
        assert not line.lstrip().startswith("::") and "##[" not in line, line


# ------------------------------------------------------- file content printed as one line


def test_text_report_prints_file_content_on_one_line_without_escapes(tmp_path):
    (tmp_path / "env.yml").write_text(HOSTILE_ENV)
    proc = run_cli("scan", ".", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == ""
    no_command_lines(proc.stdout)
    [finding] = [line for line in proc.stdout.splitlines() if "ENV009" in line]
    assert finding.startswith("env.yml:6:9: ENV009 [error] ") and HOSTILE_SHOWN in finding


def test_github_annotations_are_one_command_each_with_the_content_escaped(tmp_path):
    (tmp_path / "env.yml").write_text(HOSTILE_ENV)
    report, _ = scan_json(".", cwd=tmp_path)
    proc = run_cli("scan", ".", "--format", "github", cwd=tmp_path)
    assert proc.returncode == 1 and "\x1b" not in proc.stdout and "##[" not in proc.stdout
    lines = proc.stdout.splitlines()
    assert len(lines) == len(report["findings"]) and all(ANNOTATION.match(line) for line in lines), lines
    [env009] = [line for line in lines if "title=ENV009::" in line]
    assert HOSTILE_SHOWN in env009 and "%0Afix: " in env009


def test_a_file_name_that_reads_as_a_command_is_shown_as_a_path(tmp_path):
    (tmp_path / "::error title=forged::env.yml").write_text(HOSTILE_ENV)
    proc = run_cli("scan", ".", cwd=tmp_path)
    assert proc.returncode == 1
    no_command_lines(proc.stdout)
    assert f"./::error title=forged::env.yml:6:9: ENV009 [error] pip cannot parse `{HOSTILE_SHOWN}`" in proc.stdout
    annotations = run_cli("scan", ".", "--format", "github", cwd=tmp_path).stdout
    assert "::error file=%3A%3Aerror title=forged%3A%3Aenv.yml,line=6,col=9,title=ENV009::" in annotations


def test_junit_and_sarif_carry_the_content_escaped(tmp_path):
    (tmp_path / "env.yml").write_text(HOSTILE_ENV)
    junit = run_cli("scan", ".", "--format", "junit", cwd=tmp_path)
    failures = ET.fromstring(junit.stdout.encode()).iter("failure")
    failure = next(f for f in failures if f.get("type").startswith("ENV009"))
    assert HOSTILE_SHOWN in failure.get("message") and "\x1b" not in junit.stdout
    sarif = run_cli("scan", ".", "--format", "sarif", cwd=tmp_path)
    log = json.loads(sarif.stdout)
    validate_sarif(log)
    [result] = [r for r in log["runs"][0]["results"] if r["ruleId"] == "ENV009"]
    assert HOSTILE_SHOWN in result["message"]["text"]


# ------------------------------------------------ lone surrogates and names not in UTF-8


@pytest.mark.parametrize("fmt", ["text", "github", "sarif", "junit", "json"])
def test_a_lone_surrogate_in_a_template_loses_no_finding(tmp_path, fmt):
    (tmp_path / "kv.json").write_text(SURROGATE_TEMPLATE)
    proc = run_cli("scan", "kv.json", "--format", fmt, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    assert "KV001" in proc.stdout
    if fmt == "json":  # the JSON escape itself, read back as the same string
        [kv001] = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "KV001"]
        assert "kv-\ud800-x" in kv001["message"]
        return
    if fmt == "sarif":  # printable text: the escape spelled out
        log = json.loads(proc.stdout)
        validate_sarif(log)
        assert any(r"kv-\ud800-x" in r["message"]["text"] for r in log["runs"][0]["results"] if r["ruleId"] == "KV001")
        return
    assert r"kv-\ud800-x" in proc.stdout
    if fmt == "junit":
        ET.fromstring(proc.stdout.encode())


def test_a_lone_surrogate_in_a_merged_report_loses_no_finding(tmp_path):
    (tmp_path / "kv.json").write_text(SURROGATE_TEMPLATE)
    assert run_cli("scan", "kv.json", "--format", "json", "-o", "shard.json", cwd=tmp_path).returncode == 1
    proc = run_cli("merge", "shard.json", "--format", "sarif", "-o", "merged.sarif", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    log = json.loads((tmp_path / "merged.sarif").read_text(encoding="utf-8"))
    validate_sarif(log)
    assert any(r"kv-\ud800-x" in r["message"]["text"] for r in log["runs"][0]["results"] if r["ruleId"] == "KV001")


@pytest.fixture
def undecodable_name(tmp_path) -> str:
    """A conda file whose name is not UTF-8 (`env<0xff>.yml`), as os.fsdecode gives it."""
    try:
        with open(os.path.join(os.fsencode(tmp_path), b"env\xff.yml"), "w") as fh:
            fh.write(HOSTILE_ENV.replace("requests\\n", "requests"))
    except OSError:  # macOS and Windows file systems refuse such names: nothing to report there
        pytest.skip("this file system takes only UTF-8 file names")
    return os.fsdecode(b"env\xff.yml")


def test_sarif_uri_of_a_name_that_is_not_utf8_is_its_bytes_percent_encoded(tmp_path, undecodable_name):
    proc = run_cli("scan", ".", "--format", "sarif", "-o", "out.sarif", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    log = json.loads((tmp_path / "out.sarif").read_text(encoding="utf-8"))
    validate_sarif(log)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert uris == {"env%FF.yml"}


@pytest.mark.parametrize("fmt", ["text", "github", "junit"])
def test_a_name_that_is_not_utf8_is_shown_with_its_byte_escaped(tmp_path, undecodable_name, fmt):
    proc = run_cli("scan", ".", "--format", fmt, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    assert r"env\xff.yml" in proc.stdout and "ENV009" in proc.stdout


def test_baseline_round_trips_a_name_that_is_not_utf8(tmp_path, undecodable_name):
    assert run_cli("scan", ".", "--write-baseline", "baseline.json", cwd=tmp_path).returncode == 0
    report, proc = scan_json(".", "--baseline", "baseline.json", cwd=tmp_path)
    assert report["findings"] == [] and proc.returncode == 0


# ------------------------------------------------------------- the files preflight writes


def test_output_through_a_committed_link_leaves_its_target_untouched(tmp_path):
    repo, outside = tmp_path / "repo", tmp_path / "outside.txt"
    repo.mkdir()
    outside.write_text("precious\n")
    (repo / "env.yml").write_text(HOSTILE_ENV)
    (repo / "preflight.sarif").symlink_to(outside)
    proc = run_cli("scan", ".", "--format", "sarif", "--output", "preflight.sarif", cwd=repo)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("preflight: error: preflight.sarif: a symbolic link; preflight writes no report "
                           "through a link (remove the link, or write to another file)\n")
    assert outside.read_text() == "precious\n" and (repo / "preflight.sarif").is_symlink()
    assert sorted(p.name for p in repo.iterdir()) == ["env.yml", "preflight.sarif"]  # no temporary left


@pytest.mark.parametrize("command, what", [(["merge", "shard.json", "--output", "out"], "report"),
                                           (["scan", "env.yml", "--write-baseline", "out"], "baseline")])
def test_merge_and_baseline_refuse_a_link_too(tmp_path, command, what):
    (tmp_path / "env.yml").write_text(HOSTILE_ENV)
    assert run_cli("scan", "env.yml", "--format", "json", "-o", "shard.json", cwd=tmp_path).returncode == 1
    (tmp_path / "out").symlink_to(tmp_path / "missing")  # a dangling link: nothing created through it
    proc = run_cli(*command, cwd=tmp_path)
    assert proc.returncode == 2 and f"out: a symbolic link; preflight writes no {what} through a link" in proc.stderr
    assert not (tmp_path / "missing").exists()


def test_output_replaces_a_file_whole_and_writes_to_a_device(tmp_path):
    (tmp_path / "env.yml").write_text(HOSTILE_ENV)
    (tmp_path / "report.json").write_text("x" * 100_000)  # longer than the report
    os.chmod(tmp_path / "report.json", 0o640)
    assert run_cli("scan", ".", "--format", "json", "-o", "report.json", cwd=tmp_path).returncode == 1
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["findings"] == 1
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o640
    proc = run_cli("scan", ".", "--format", "json", "-o", os.devnull, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == "" and proc.stderr == ""
    proc = run_cli("scan", ".", "-o", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "cannot write the report: a folder" in proc.stderr


def test_a_failed_write_leaves_the_old_file_as_it_was(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("the previous report\n")
    writes = []

    def failing_write(fd, data):
        if writes:
            raise OSError(28, "No space left on device")
        writes.append(len(data))
        return real_write(fd, data[:10])  # a short write, then the disk fills up

    real_write = os.write
    with monkeypatch.context() as patched, \
            pytest.raises(OutputError, match="report.json: cannot write the report: No space left on device"):
        patched.setattr(output.os, "write", failing_write)
        write_file(str(target), "{}\n" * 1000)
    assert target.read_text() == "the previous report\n" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_report_written_in_pieces_is_whole_or_not_at_all(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("the previous report\n")

    def pieces():
        yield "{\n"
        raise RuntimeError("a reporter failed half-way")

    with pytest.raises(RuntimeError):
        write_file(str(target), pieces())
    assert target.read_text() == "the previous report\n" and [p.name for p in tmp_path.iterdir()] == ["report.json"]
    write_file(str(target), iter(["{", "\ud800", "}\n"]))
    assert target.read_bytes() == b"{\\ud800}\n"


def test_the_json_report_in_pieces_is_the_rendered_report():
    from preflight.contract import ScanResult
    from preflight.findings import ERROR, WARNING, Finding
    from preflight.report.json_report import chunks, render

    findings = [Finding("ENV001", "a", ERROR, "a.yml", "/x", "m\n1", "f", 2, 3, {"k": [1, 2]}),
                Finding("ENV002", "b", WARNING, "b.yml", "", "m2")]
    for result in (ScanResult(findings, 2, ["a.yml", "b.yml"]), ScanResult([], 0)):
        whole = json.dumps({"version": json.loads(render(result))["version"],
                            "findings": [f.to_json() for f in result.findings],
                            "summary": json.loads(render(result))["summary"]}, indent=2) + "\n"
        assert render(result) == "".join(chunks(result)) == whole
        assert len(list(chunks(result))) == (len(findings) + 2 if result.findings else 1)


# --------------------------------------------- baselines and reports that cannot be read


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("source", ["fifo", "/dev/zero", "deep"])
def test_baseline_that_is_not_a_readable_baseline_exits_2_at_once(tmp_path, fifo, source):
    (tmp_path / "env.yml").write_text(HOSTILE_ENV)
    (tmp_path / "deep.json").write_text("[" * 100_000)
    path = {"fifo": str(fifo), "/dev/zero": "/dev/zero", "deep": "deep.json"}[source]
    proc = run_cli("scan", "env.yml", "--baseline", path, cwd=tmp_path, timeout=60)  # a hang fails here
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    expected = "nesting deeper than 512 levels" if source == "deep" else "cannot read the baseline: not a regular file"
    assert line == f"preflight: error: {path}: " + (f"not a preflight baseline ({expected})" if source == "deep"
                                                     else expected)


# deep-list: too deep for the JSON parser; deep-data: parsed, but deeper than preflight takes.
@pytest.mark.parametrize("source", ["fifo", "/dev/zero", "deep-list", "deep-data"])
def test_merge_of_what_cannot_be_a_report_exits_2_at_once(tmp_path, fifo, source):
    (tmp_path / "deep-list.json").write_text("[" * 100_000)
    finding = {"rule": "ENV005", "name": "n", "severity": "warning", "path": "e.yml", "line": 1, "column": 1,
               "message": "m", "pointer": "", "data": {}}
    deep = json.dumps({"version": "0.1.0", "findings": [finding], "summary": {"files": 1}})
    (tmp_path / "deep-data.json").write_text(deep.replace('"data": {}', '"data": ' + '{"a": ' * 600 + "1" + "}" * 600))
    path = {"fifo": str(fifo), "/dev/zero": "/dev/zero"}.get(source, f"{source}.json")
    proc = run_cli("merge", path, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    if source.startswith("deep"):
        assert line.startswith(f"preflight: error: {path}: not a preflight JSON report "
                               f"(nesting deeper than 512 levels)")
    else:
        assert line == f"preflight: error: {path}: cannot read the report: not a regular file"


def test_merge_refuses_a_report_over_the_size_limit(tmp_path, monkeypatch, capsys):
    from preflight import cli, merge

    (tmp_path / "env.yml").write_text(HOSTILE_ENV)
    assert run_cli("scan", "env.yml", "--format", "json", "-o", "shard.json", cwd=tmp_path).returncode == 1
    size = (tmp_path / "shard.json").stat().st_size
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(merge, "MAX_REPORT_BYTES", size - 1)
    assert cli.main(["merge", "shard.json"]) == 2
    assert capsys.readouterr().err == (f"preflight: error: shard.json: cannot read the report: {size:,} bytes, "
                                       f"over the limit of {size - 1:,}\n")
    monkeypatch.setattr(merge, "MAX_REPORT_BYTES", size)
    assert cli.main(["merge", "shard.json"]) == 1


def test_error_messages_quoting_file_content_start_every_line_with_preflight(tmp_path):
    (tmp_path / "env.yml").write_text(HOSTILE_ENV)
    (tmp_path / ".preflight.toml").write_text('"a\\n::error title=forged::x\\u001b[31m" = 1\nselect = 3\n')
    proc = run_cli("scan", ".", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == "" and "\x1b" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) >= 2 and all(line.startswith("preflight: ") for line in lines), lines
    assert "'select' must be an array" in proc.stderr and "forged::x\\x1b[31m" in proc.stderr
