"""Inline suppressions: YAML/Python comments, `//` comments in JSON, ARM `metadata`, and PF004."""
from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, run_cli, scan_json
from preflight import contract
from preflight.contract import REGISTRY, Options
from preflight.rulepacks import load_rule_packs
from preflight.documents import Kind, load_document
from preflight.engine import scan
from preflight.findings import ERROR, Issue
from preflight.loaders import load_json
from preflight.suppress import parse

ENV = """name: e
dependencies:
  - python=3.10.12
  - pip=23.3.1
  - pip:
      - numpy==1.26.4
      - requests>=2
      - pandas
"""


def findings(report, rule=None):
    return [(f["rule"], f["line"]) for f in report["findings"] if rule is None or f["rule"] == rule]


# ----------------------------------------------------------------------------- YAML comments


def test_trailing_comment_hides_its_own_line_only(tmp_path):
    (tmp_path / "env.yml").write_text(ENV.replace("requests>=2", "requests>=2  # preflight: ignore[ENV005]"))
    report, proc = scan_json("env.yml", cwd=tmp_path)
    assert findings(report) == [("ENV005", 8)]  # pandas, on the next line, still shows


def test_comment_on_the_line_above(tmp_path):
    (tmp_path / "env.yml").write_text(
        ENV.replace("      - pandas", "      # preflight: ignore[ENV005]\n      - pandas"))
    report, _ = scan_json("env.yml", cwd=tmp_path)
    assert findings(report) == [("ENV005", 7)]


def test_several_ids_and_prefixes(tmp_path):
    (tmp_path / "env.yml").write_text(ENV.replace("requests>=2", "requests>=2  # preflight: ignore[ENV004, env005]")
                                      .replace("      - pandas", "      - pandas  #preflight:ignore[ENV]"))
    report, proc = scan_json("env.yml", cwd=tmp_path)
    # ENV005 hid requests; ENV004 hid nothing on that line: reported, as info, so it does not fail.
    assert findings(report) == [("PF004", 7)]
    [pf004] = report["findings"]
    assert pf004["severity"] == "info" and "ENV004" in pf004["message"] and pf004["column"] == 22
    assert proc.returncode == 0


def test_ignore_file(tmp_path):
    (tmp_path / "env.yml").write_text("# preflight: ignore-file[ENV005]\n" + ENV)
    report, proc = scan_json("env.yml", cwd=tmp_path)
    assert findings(report) == [] and proc.returncode == 0


def test_unused_and_unknown_suppressions_are_reported_as_info(tmp_path):
    text = ENV.replace("numpy==1.26.4", "numpy==1.26.4  # preflight: ignore[ENV005]")
    text = "# preflight: ignore-file[ENV999]\n" + text.replace("pandas", "pandas  # preflight: ignore[ENV005]")
    (tmp_path / "env.yml").write_text(text)
    report, proc = scan_json("env.yml", "--fail-on", "error", cwd=tmp_path)
    got = [(f["rule"], f["line"], f["severity"]) for f in report["findings"]]
    assert got == [("PF004", 1, "info"), ("PF004", 7, "info"), ("ENV005", 8, "warning")]
    messages = [f["message"] for f in report["findings"]]
    assert "unknown rule 'ENV999'" in messages[0]
    assert "unused suppression: no ENV005 finding on line 7" == messages[1]
    # --ignore PF004 turns the report off; the suppressions keep working.
    report, _ = scan_json("env.yml", "--ignore", "PF004", cwd=tmp_path)
    assert findings(report) == [("ENV005", 8)]


def test_a_suppression_for_a_rule_that_is_off_is_not_stale(tmp_path):
    (tmp_path / "env.yml").write_text(ENV.replace("numpy==1.26.4", "numpy==1.26.4  # preflight: ignore[ENV005]"))
    report, _ = scan_json("env.yml", "--select", "KV,PF", cwd=tmp_path)
    assert findings(report) == []


def test_suppression_text_inside_a_value_is_not_a_comment(tmp_path):
    (tmp_path / "env.yml").write_text(ENV.replace("name: e", "name: 'e#preflight: ignore-file[ENV005]'"))
    report, _ = scan_json("env.yml", cwd=tmp_path)
    assert findings(report, "ENV005") == [("ENV005", 7), ("ENV005", 8)]


def test_suppression_hides_a_parse_error(tmp_path):
    (tmp_path / "env.yml").write_text("# preflight: ignore-file[PF001]\nname: e\ndependencies: [\n  - python\n")
    report, proc = scan_json("env.yml", cwd=tmp_path)
    assert findings(report) == [] and proc.returncode == 0


# ----------------------------------------------------------------------- ARM metadata


def _vault(metadata=None, policies=None):
    resource = {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv-ml",
                "location": "westeurope",
                "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
                               "accessPolicies": [] if policies is None else policies}}
    if metadata is not None:
        resource["metadata"] = metadata
    return resource


def _template(resources, metadata=None):
    out = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
           "contentVersion": "1.0.0.0", "resources": resources}
    if metadata is not None:
        out["metadata"] = metadata
    return json.dumps(out, indent=2)


@pytest.fixture
def wiped_rule(monkeypatch):
    """A rule of our own reading ARM templates, so these tests do not depend on the KV pack."""
    def check(doc, ctx):
        for i, r in enumerate(doc.data.get("resources", [])):
            if r.get("properties", {}).get("accessPolicies") == []:
                yield Issue(f"/resources/{i}/properties/accessPolicies", f"vault '{r.get('name')}' wiped")

    load_rule_packs()
    monkeypatch.setitem(REGISTRY, "ZZ901", contract.Rule("ZZ901", "test-wiped", ERROR, frozenset([Kind.ARM_TEMPLATE]),
                                                       "test", check, docs=""))
    return Options(select={"ZZ9", "PF"})


def test_arm_resource_metadata_hides_findings_inside_that_resource(tmp_path, wiped_rule):
    (tmp_path / "t.json").write_text(_template([_vault({"preflight": {"ignore": ["ZZ901"]}}), _vault()]))
    result = scan([str(tmp_path / "t.json")], wiped_rule)
    assert [(f.rule, f.pointer) for f in result.findings] == [("ZZ901", "/resources/1/properties/accessPolicies")]


def test_arm_template_metadata_hides_the_whole_file(tmp_path, wiped_rule):
    (tmp_path / "t.json").write_text(_template([_vault(), _vault()], {"preflight": {"ignore": "ZZ901"}}))
    assert scan([str(tmp_path / "t.json")], wiped_rule).findings == []


def test_unused_arm_metadata_is_reported_where_it_is_written(tmp_path, wiped_rule):
    metadata = {"description": "x", "preflight": {"ignore": ["ZZ901", "ZZ999"]}}
    (tmp_path / "t.json").write_text(_template([_vault(metadata,
                                                       policies=[{"objectId": "o", "tenantId": "t"}])]))
    result = scan([str(tmp_path / "t.json")], wiped_rule)
    got = [(f.rule, f.pointer, f.line, f.message) for f in result.findings]
    lines = (tmp_path / "t.json").read_text().splitlines()
    assert [g[:2] for g in got] == [("PF004", "/resources/0/metadata/preflight/ignore/0"),
                                    ("PF004", "/resources/0/metadata/preflight/ignore/1")]
    assert '"ZZ901"' in lines[got[0][2] - 1] and '"ZZ999"' in lines[got[1][2] - 1]
    assert "no ZZ901 finding under /resources/0" in got[0][3] and "unknown rule 'ZZ999'" in got[1][3]


def test_slash_comments_in_json_templates(tmp_path, wiped_rule):
    text = _template([_vault()]).replace('"accessPolicies": []',
                                         '// preflight: ignore[ZZ901]\n        "accessPolicies": []')
    (tmp_path / "t.json").write_text(text)
    assert scan([str(tmp_path / "t.json")], wiped_rule).findings == []


def test_parse_finds_every_form():
    doc = load_document("t.json", _template([_vault({"preflight": {"ignore": ["KV003"]}})],
                                            {"preflight": {"ignore": ["KV001"]}}).encode())
    found = sorted((s.scope, s.prefix, s.selectors) for s in parse(doc))
    assert found == [("object", "", ("KV001",)), ("object", "/resources/0", ("KV003",))]
    yml = load_document("env.yml", ("# preflight: ignore-file[ENV004]\n" + ENV.replace(
        "pandas", "pandas # preflight: ignore[ENV005,ENV005]")).encode())
    found = sorted((s.scope, s.lines, s.selectors) for s in parse(yml))
    assert found == [("file", (), ("ENV004",)), ("lines", (9,), ("ENV005",))]


# --------------------------------------------------------------- with the real KV pack


def test_kv001_suppressed_by_arm_metadata_and_by_config(tmp_path):
    template = load_json((FIXTURES / "integrations" / "kv-wiped.json").read_text())  # a template: comments allowed
    (tmp_path / "kv.json").write_text(json.dumps(template, indent=2))
    report, proc = scan_json("kv.json", cwd=tmp_path)
    assert "KV001" in [f["rule"] for f in report["findings"]] and proc.returncode == 1

    template["resources"][0]["metadata"] = {"preflight": {"ignore": ["KV001"]}}
    (tmp_path / "kv.json").write_text(json.dumps(template, indent=2))
    report, _ = scan_json("kv.json", cwd=tmp_path)
    assert "KV001" not in [f["rule"] for f in report["findings"]]
    assert "PF004" not in [f["rule"] for f in report["findings"]]

    del template["resources"][0]["metadata"]
    (tmp_path / "kv.json").write_text(json.dumps(template, indent=2))
    (tmp_path / ".preflight.toml").write_text('ignore = ["KV001"]\n')
    report, _ = scan_json("kv.json", cwd=tmp_path)
    assert "KV001" not in [f["rule"] for f in report["findings"]]


def test_yaml_comment_and_config_ignore_through_the_cli(tmp_path):
    (tmp_path / "env.yml").write_text(ENV.replace("requests>=2", "requests>=2  # preflight: ignore[ENV005]")
                                      .replace("      - pandas", "      - pandas  # preflight: ignore[ENV005]"))
    assert run_cli("scan", "env.yml", "--fail-on", "warning", cwd=tmp_path).returncode == 0
    (tmp_path / "env.yml").write_text(ENV)
    assert run_cli("scan", "env.yml", "--fail-on", "warning", cwd=tmp_path).returncode == 1
    (tmp_path / ".preflight.toml").write_text('ignore = ["ENV005"]\n')
    assert run_cli("scan", "env.yml", cwd=tmp_path).returncode == 0


def test_comments_in_scoring_scripts(tmp_path):
    script = ("import json\n\ndef init():\n    global model\n    model = None\n\n"
              "def run(raw):\n    return json.loads(raw)\n")
    (tmp_path / "score.py").write_text(script)
    report, _ = scan_json("score.py", "--select", "SCR004", cwd=tmp_path)
    assert findings(report) == [("SCR004", 8)]
    (tmp_path / "score.py").write_text(
        script.replace("json.loads(raw)\n", "json.loads(raw)  # preflight: ignore[SCR004]\n"))
    report, _ = scan_json("score.py", "--select", "SCR004,PF", cwd=tmp_path)
    assert findings(report) == []
