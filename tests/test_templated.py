"""YAML templates a script fills in before Azure reads them (`{{ACR_NAME}}`, `{% if %}`): not
checked, and said so once (PF005, info); a real syntax error stays an error (PF001)."""
from __future__ import annotations

from conftest import scan_json
from preflight.documents import Kind, load_document
from preflight.loaders import Templated

DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: {{ENDPOINT_NAME}}
model:
  name: m
  version: {{MODEL_VERSION}}
environment:
  image: {{ACR_NAME}}.azurecr.io/minimal:1
instance_type: Standard_DS3_v2
instance_count: 1
"""


def test_templated_deployment_is_one_info_not_an_error(tmp_path):
    (tmp_path / "deployment.yml").write_text(DEPLOYMENT)
    report, proc = scan_json(str(tmp_path), "--fail-on", "warning")
    found = [(f["rule"], f["severity"], f["line"], f["column"]) for f in report["findings"]]
    # The parse error is at line 8; the placeholder nearest before it is reported.
    assert found == [("PF005", "info", 8, 10)]
    assert "{{ACR_NAME}}" in report["findings"][0]["message"]
    assert proc.returncode == 0


def test_templated_file_takes_its_kind_from_the_filled_in_text():
    doc = load_document("deployment.yml", DEPLOYMENT.encode())
    assert doc.kind == Kind.ONLINE_DEPLOYMENT_V2 and isinstance(doc.error, Templated)
    conda = "name: e\ndependencies:\n  - python=3.10\n{% if gpu %}\n  - {{CUDA_PACKAGE}}\n{% endif %}\n"
    doc = load_document("env.yml", conda.encode())
    assert doc.kind == Kind.CONDA and isinstance(doc.error, Templated)
    assert (doc.error.line, doc.error.column) == (4, 1)


def test_a_real_syntax_error_beside_placeholders_stays_an_error(tmp_path):
    broken = DEPLOYMENT.replace("instance_count: 1", "instance_count: [1")
    (tmp_path / "deployment.yml").write_text(broken)
    report, proc = scan_json(str(tmp_path), "--fail-on", "error")
    assert [(f["rule"], f["severity"]) for f in report["findings"]] == [("PF001", "error")]
    assert proc.returncode == 1


def test_templated_yaml_of_no_known_kind_is_skipped_silently():
    chart = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  dependencies: x\n"
    assert load_document("configmap.yaml", chart.encode()) is None


def test_expressions_that_are_plain_yaml_are_checked_as_usual():
    # `${{ ... }}` is a plain scalar: the file parses and is checked (its value is unknown).
    text = "name: e\ndependencies:\n  - python=${{ inputs.python }}\n"
    doc = load_document("env.yml", text.encode())
    assert doc.kind == Kind.CONDA and doc.error is None
