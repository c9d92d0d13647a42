"""Security: secure parameter values are never echoed, an offline scan opens no socket, and
report paths stay inside the scanned roots."""
import json
import os
import sys

import pytest

from conftest import FIXTURES, REPO, run_cli, scan_json

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PARAMS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
FORMATS = ["text", "json", "sarif", "junit", "github"]

# Each value reaches a message through a different rule: allowedValues (ARM001), a length bound
# (ARM002), the vault name (every KV rule, KV017 names it invalid), the sku (KV016).
TEMPLATE = {
    "$schema": SCHEMA, "contentVersion": "1.0.0.0",
    "parameters": {
        "adminPassword": {"type": "securestring", "allowedValues": ["one", "two"], "maxLength": 8},
        "apiToken": {"type": "secureString", "minLength": 64},
        "connection": {"type": "secureObject", "allowedValues": [{"x": 1}]},
        "vaultName": {"type": "securestring"},
        "skuName": {"type": "securestring"},
        "plainName": {"type": "string", "allowedValues": ["alpha"]},
    },
    "resources": [
        {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2022-07-01", "name": "[parameters('vaultName')]",
         "location": "westeurope",
         "properties": {"tenantId": "[subscription().tenantId]",
                        "sku": {"family": "A", "name": "[parameters('skuName')]"},
                        "accessPolicies": [], "networkAcls": "[parameters('connection')]"}},
        {"type": "Microsoft.KeyVault/vaults/secrets", "apiVersion": "2022-07-01",
         "name": "[concat(parameters('vaultName'), '/admin')]",
         "properties": {"value": "[parameters('adminPassword')]"}},
    ],
    "outputs": {"token": {"type": "string", "value": "[parameters('apiToken')]"}},
}
FILE_SECRETS = {"adminPassword": "Pw-from-file-7d1c", "apiToken": "tok_file_93b2e4", "vaultName": "kv_FILE_secret!4a",
                "skuName": "sku-file-secret-5e"}
CLI_SECRETS = {"adminPassword": "Pw-from-cli-21f9", "vaultName": "kv_CLI_secret!88"}
OBJECT_SECRET = "conn-file-secret-6b0f"


def project(tmp_path):
    (tmp_path / "azuredeploy.json").write_text(json.dumps(TEMPLATE, indent=2))
    parameters = {name: {"value": value} for name, value in FILE_SECRETS.items()}
    parameters["connection"] = {"value": {"defaultAction": "Allow", "key": OBJECT_SECRET}}
    parameters["plainName"] = {"value": "not-a-secret-value"}
    (tmp_path / "azuredeploy.parameters.json").write_text(
        json.dumps({"$schema": PARAMS_SCHEMA, "contentVersion": "1.0.0.0", "parameters": parameters}, indent=2))
    return tmp_path


def leaked(text, secrets):
    return [s for s in secrets if s in text or s[:8] in text]


@pytest.mark.parametrize("fmt", FORMATS)
def test_secure_values_from_parameter_files_and_param_never_appear_in_any_report(tmp_path, fmt):
    project(tmp_path)
    args = [f"--param={name}={value}" for name, value in CLI_SECRETS.items()]
    proc = run_cli("scan", "--format", fmt, *args, ".", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    secrets = [*FILE_SECRETS.values(), *CLI_SECRETS.values(), OBJECT_SECRET]
    assert leaked(proc.stdout + proc.stderr, secrets) == []
    assert "ARM001" in proc.stdout and "KV017" in proc.stdout  # the findings are still there
    assert "not-a-secret-value" in proc.stdout  # a plain string parameter is shown as before


def test_the_findings_about_secure_values_say_what_is_wrong_without_the_value(tmp_path):
    project(tmp_path)
    report, _ = scan_json(".", cwd=tmp_path)
    messages = {(f["rule"], f["message"].split(" (with ")[0]) for f in report["findings"]}
    assert ("ARM001", "parameter 'adminPassword' is a secure value (from its parameter file), not one of "
                      "its allowedValues (one, two)") in messages
    assert ("ARM002", "parameter 'apiToken' is a secure value (length 15) (from its parameter file), below "
                      "its minLength 64") in messages
    assert ("KV017", "Key Vault name '***' is invalid: it must be 3 to 24 letters, digits and hyphens") in messages
    arm001 = [f for f in report["findings"] if f["rule"] == "ARM001" and "adminPassword" in f["message"]]
    assert arm001[0]["data"]["value"] is None


def test_a_long_secret_cut_short_in_a_message_is_masked_too(tmp_path):
    project(tmp_path)
    secret = "Vault-" + "x7" * 150  # far longer than any value a message shows
    proc = run_cli("scan", f"--param=vaultName={secret}", "--format", "json", ".", cwd=tmp_path)
    assert secret[:12] not in proc.stdout
    assert "'***'" in proc.stdout


def test_secure_values_of_a_bicepparam_file_are_masked(tmp_path):
    (tmp_path / "main.bicep").write_text(
        "@secure()\n@minLength(40)\nparam secret string\n@secure()\nparam vaultName string\n"
        "resource kv 'Microsoft.KeyVault/vaults@2022-07-01' = {\n  name: vaultName\n  location: 'westeurope'\n"
        "  properties: {\n    tenantId: subscription().tenantId\n    sku: {family: 'A', name: 'standard'}\n"
        "    accessPolicies: []\n  }\n}\n")
    (tmp_path / "main.bicepparam").write_text(
        "using './main.bicep'\nparam secret = 'bicep-secret-0c41'\nparam vaultName = 'kv_bicep_secret_9d'\n")
    report, proc = scan_json(".", cwd=tmp_path)
    assert {"ARM002", "KV001", "KV017"} <= {f["rule"] for f in report["findings"]}
    assert leaked(proc.stdout, ["bicep-secret-0c41", "kv_bicep_secret_9d"]) == []


def test_a_baseline_records_no_secure_value(tmp_path):
    project(tmp_path)
    proc = run_cli("scan", "--write-baseline", "baseline.json", ".", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert leaked((tmp_path / "baseline.json").read_text(), [*FILE_SECRETS.values(), OBJECT_SECRET]) == []


NO_NETWORK = """
import socket, sys
def refuse(*args, **kwargs):
    sys.stderr.write("NETWORK ATTEMPT\\n")
    raise OSError("network access during an offline scan")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
import runpy
sys.argv = ["preflight", *sys.argv[1:]]
runpy.run_module("preflight", run_name="__main__")
"""


def test_the_cli_scans_every_fixture_without_opening_a_socket():
    import subprocess

    proc = subprocess.run([sys.executable, "-c", NO_NETWORK, "scan", "--format", "json", str(FIXTURES)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, NO_COLOR="1"))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "NETWORK ATTEMPT" not in proc.stderr and "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["files"] > 100
    assert [f for f in report["findings"] if f["rule"] == "PF003"] == []


def test_files_linked_from_outside_the_root_are_not_followed(tmp_path):
    """A scanned tree is untrusted: what it links outside itself is never opened (tests/test_confine.py);
    the linking lines say so, and every finding stays inside the tree."""
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    repo.mkdir()
    outside.mkdir()
    vault = {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2022-07-01", "name": "kv-outside",
             "properties": {"tenantId": "t", "sku": {"family": "A", "name": "standard"}, "accessPolicies": []}}
    (outside / "linked.json").write_text(json.dumps({"$schema": SCHEMA, "resources": [vault]}))
    (outside / "req.txt").write_text("numpy\n")
    (outside / "mod.bicep").write_text("resource k 'Microsoft.KeyVault/vaults@2022-07-01' = {\n  name: 'kv-mod'\n"
                                       "  properties: {\n    accessPolicies: []\n  }\n}\n")
    (repo / "main.json").write_text(json.dumps({"$schema": SCHEMA, "resources": [
        {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "d",
         "properties": {"mode": "Incremental", "templateLink": {"relativePath": "../outside/linked.json"}}}]}))
    (repo / "main.bicep").write_text("module m '../outside/mod.bicep' = {\n  name: 'm'\n}\n")
    (repo / "conda.yml").write_text("dependencies:\n  - pip=23.3.1\n  - pip:\n      - -r ../outside/req.txt\n")
    report, _ = scan_json("repo", cwd=tmp_path)
    found = {(f["path"], f["rule"]) for f in report["findings"]}
    assert found == {("repo/main.bicep", "PF010"), ("repo/conda.yml", "ENV009")}, found
    assert "kv-outside" not in json.dumps(report) and "kv-mod" not in json.dumps(report)
