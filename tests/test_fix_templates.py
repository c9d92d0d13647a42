"""`preflight fix` on templates (KV019): retiring Key Vault apiVersions raised, access-policy
vaults kept in that mode with an explicit `enableRbacAuthorization: false`, every other byte as
it was; then the corpus, fixed in a copy, keeps its access-policy verdicts."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from preflight.cli import build_options, build_parser
from preflight.engine import scan
from preflight.fix import run as run_fix

from conftest import run_cli

ARM = """{
  // comments, key order and this file's uneven indentation are kept
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": { "useRbac": { "type": "bool", "defaultValue": false } },
  "resources": [
    {
      "type": "Microsoft.KeyVault/vaults",
      "apiVersion": "2019-09-01",
      "name": "kv-policies",
      "location": "westeurope",
      "properties": {
          // who may read the secrets
          "tenantId": "[subscription().tenantId]",
          "sku": { "family": "A", "name": "standard" },
          "accessPolicies": [ { "tenantId": "[subscription().tenantId]",
                                "objectId": "00000000-0000-0000-0000-000000000001",
                                "permissions": { "secrets": [ "get" ] } } ]
      }
    },
    { "type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv-rbac", "location": "westeurope",
      "properties": { "tenantId": "[subscription().tenantId]", "sku": { "family": "A", "name": "standard" },
                      "enableRbacAuthorization": true } },
    { "type": "Microsoft.KeyVault/vaults", "apiVersion": "2022-11-01", "name": "kv-param", "location": "westeurope",
      "properties": { "tenantId": "[subscription().tenantId]", "sku": { "family": "A", "name": "standard" },
                      "enableRbacAuthorization": "[parameters('useRbac')]", "accessPolicies": [] } },
    {
      "type": "Microsoft.KeyVault/vaults/accessPolicies",
      "apiVersion": "2022-07-01",
      "name": "kv-policies/add",
      "dependsOn": [ "kv-policies" ],
      "properties": { "accessPolicies": [] }
    },
    {
      "type": "Microsoft.Resources/deployments",
      "apiVersion": "2022-09-01",
      "name": "inner",
      "properties": {
        "mode": "Incremental",
        "expressionEvaluationOptions": { "scope": "inner" },
        "template": {
          "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
          "contentVersion": "1.0.0.0",
          "resources": [
            { "type": "Microsoft.KeyVault/vaults", "apiVersion": "2021-04-01-preview", "name": "kv-nested",
              "location": "westeurope",
              "properties": { "tenantId": "[subscription().tenantId]", "sku": { "family": "A", "name": "standard" },
                              "accessPolicies": [] } }
          ]
        }
      }
    }
  ]
}
"""

# The same text with the intended edits, written out by hand.
ARM_FIXED = (ARM
             .replace('"apiVersion": "2019-09-01"', '"apiVersion": "2026-02-01"')
             .replace('''      "properties": {
          // who may read''', '''      "properties": {
          "enableRbacAuthorization": false,
          // who may read''')
             .replace('"apiVersion": "2023-07-01"', '"apiVersion": "2026-02-01"')
             .replace('"apiVersion": "2022-11-01"', '"apiVersion": "2026-02-01"')
             .replace('"apiVersion": "2022-07-01"', '"apiVersion": "2026-02-01"')
             .replace('"apiVersion": "2021-04-01-preview"', '"apiVersion": "2026-02-01"')
             .replace('"properties": { "tenantId": "[subscription().tenantId]", "sku": { "family": "A", "name": '
                      '"standard" },\n                              "accessPolicies": [] }',
                      '"properties": { "enableRbacAuthorization": false, "tenantId": "[subscription().tenantId]", '
                      '"sku": { "family": "A", "name": "standard" },\n'
                      '                              "accessPolicies": [] }'))

MODULE = """\
param name string
param rbac bool

resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {
\tname: name
\tlocation: resourceGroup().location
\tproperties: { // the vault
\t\ttenantId: subscription().tenantId
\t\tsku: {
\t\t\tfamily: 'A'
\t\t\tname: 'standard'
\t\t}
\t\tenableRbacAuthorization: rbac
\t\taccessPolicies: []
\t}

\tresource token 'secrets' = {
\t\tname: 'token'
\t\tproperties: { value: 'x' }
\t}
}
"""
MODULE_FIXED = MODULE.replace("vaults@2023-07-01", "vaults@2026-02-01")

MAIN = """\
resource shared 'Microsoft.KeyVault/vaults@2022-07-01' existing = {
  name: 'kv-shared'
}

resource grant 'Microsoft.KeyVault/vaults/accessPolicies@2022-07-01' = {
  parent: shared
  name: 'add'
  properties: {
    accessPolicies: []
  }
}

module vault 'modules/kv.bicep' = {
  name: 'vault'
  params: { name: 'kv-mod', rbac: false }
}

resource legacy 'Microsoft.KeyVault/vaults@2019-09-01' = {
  name: 'kv-legacy'
  location: resourceGroup().location
  properties: {
    // no enableRbacAuthorization and no accessPolicies: access-policy mode before 2026-02-01
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
  }
}

output sharedUri string = shared.properties.vaultUri // a read of the existing vault: a GET at its version
"""
MAIN_FIXED = (MAIN.replace("@2022-07-01", "@2026-02-01").replace("@2019-09-01", "@2026-02-01")
              .replace("  properties: {\n    // no enableRbac",
                       "  properties: {\n    enableRbacAuthorization: false\n    // no enableRbac"))


def kv_rules(path, *rules: str) -> list[tuple[str, str]]:
    options, _ = build_options(build_parser().parse_args(["scan", str(path), "--no-cache"]))
    return [(os.path.basename(f.path), f.rule) for f in scan([str(path)], options).findings if f.rule in rules]


@pytest.fixture
def arm(tmp_path) -> Path:
    path = tmp_path / "azuredeploy.json"
    path.write_text(ARM)
    return path


@pytest.fixture
def bicep(tmp_path) -> Path:
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "kv.bicep").write_text(MODULE)
    (tmp_path / "main.bicep").write_text(MAIN)
    return tmp_path


def test_arm_versions_raised_and_access_policy_vaults_kept_byte_for_byte(arm):
    assert kv_rules(arm, "KV019") == [("azuredeploy.json", "KV019")] * 5
    proc = run_cli("fix", str(arm))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert arm.read_text() == ARM_FIXED  # the RBAC and the parameter vault: the version only
    assert "Fixed 5 problems in 1 file." in proc.stdout
    assert "'kv-policies': apiVersion 2019-09-01 -> 2026-02-01 and `enableRbacAuthorization: false`" in proc.stdout
    assert kv_rules(arm, "KV019", "KV018") == []
    again = run_cli("fix", str(arm))
    assert again.returncode == 0 and "Fixed 0 problems in 0 files." in again.stdout and arm.read_text() == ARM_FIXED


def test_bicep_module_existing_and_child_resources(bicep):
    module = bicep / "modules" / "kv.bicep"
    proc = run_cli("fix", str(bicep))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (bicep / "main.bicep").read_text() == MAIN_FIXED
    assert module.read_text() == MODULE_FIXED  # rbac from a parameter; the child takes the parent's version
    assert kv_rules(bicep, "KV019", "KV018") == []
    assert run_cli("fix", str(bicep)).stdout.startswith("Fixed 0 problems in 0 files.")


def test_diff_shows_the_changes_and_writes_nothing(bicep):
    proc = run_cli("fix", str(bicep), "--diff")
    assert proc.returncode == 1
    assert "-resource legacy 'Microsoft.KeyVault/vaults@2019-09-01' = {" in proc.stdout
    assert "+    enableRbacAuthorization: false" in proc.stdout
    assert (bicep / "main.bicep").read_text() == MAIN and (bicep / "modules" / "kv.bicep").read_text() == MODULE


def test_a_module_outside_the_files_fixed_is_named_not_edited(bicep):
    proc = run_cli("fix", str(bicep / "main.bicep"))
    assert proc.returncode == 1
    assert "declared in modules/kv.bicep, which is not among the files being fixed" in proc.stdout
    assert (bicep / "modules" / "kv.bicep").read_text() == MODULE
    assert (bicep / "main.bicep").read_text() == MAIN_FIXED


READS = """\
{
  // reads of a vault at a version
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "resources": [
    { "type": "Microsoft.Web/sites", "apiVersion": "2022-03-01", "name": "app",
      "properties": { "siteConfig": { "appSettings": [
        { "name": "VAULT", "value": "[reference(resourceId('Microsoft.KeyVault/vaults', 'kv'), '2019-09-01').vaultUri]" },
        { "name": "MIXED", "value": "[concat(reference(resourceId('Microsoft.Storage/storageAccounts', 'st'),  '2019-09-01').x, reference(resourceId('Microsoft.KeyVault/vaults', 'kv'),'2019-09-01', 'Full').location)]" }
      ] } } }
  ],
  "outputs": { "keys": { "type": "array", "value": ["[listKeys(resourceId('Microsoft.KeyVault/vaults/keys', 'kv', 'k'), '2022-07-01')]"] } }
}
"""
READS_FIXED = (READS
               .replace("'kv'), '2019-09-01').vaultUri", "'kv'), '2026-02-01').vaultUri")
               .replace("'kv'),'2019-09-01', 'Full')", "'kv'),'2026-02-01', 'Full')")
               .replace("'k'), '2022-07-01')", "'k'), '2026-02-01')"))


def test_reads_of_a_vault_at_a_retiring_version_are_raised_in_the_expression(tmp_path):
    path = tmp_path / "reads.json"
    path.write_text(READS)
    assert len(kv_rules(path, "KV019")) == 3
    proc = run_cli("fix", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert path.read_text() == READS_FIXED  # the storage account's call in the same string is kept
    assert "Fixed 3 problems in 1 file." in proc.stdout
    assert kv_rules(path, "KV019") == []
    again = run_cli("fix", str(path))
    assert "Fixed 0 problems in 0 files." in again.stdout and path.read_text() == READS_FIXED


def test_crlf_and_a_bom_are_kept(tmp_path):
    text = ARM.replace("\n", "\r\n")
    path = tmp_path / "t.json"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert run_cli("fix", str(path)).returncode == 0
    assert path.read_bytes() == b"\xef\xbb\xbf" + ARM_FIXED.replace("\n", "\r\n").encode()


def test_a_vault_whose_setting_cannot_be_added_is_left_alone(tmp_path):
    path = tmp_path / "t.json"
    text = ARM.replace('''      "properties": {
          // who may read the secrets''', '''      "properties": "[variables('vaultProperties')]",
      "unused": {
          // who may read the secrets''').replace('"contentVersion": "1.0.0.0",', '''"contentVersion": "1.0.0.0",
  "variables": { "vaultProperties": { "tenantId": "[subscription().tenantId]", "accessPolicies": [] } },''')
    path.write_text(text)
    proc = run_cli("fix", str(path))
    assert proc.returncode == 1
    assert "'kv-policies': its `properties` are missing or not written as an object" in proc.stdout
    fixed = path.read_text()
    assert '"apiVersion": "2019-09-01"' in fixed and '"apiVersion": "2023-07-01"' not in fixed  # the rest is fixed
    assert kv_rules(path, "KV019") == [("t.json", "KV019")]


def test_the_target_version_is_configurable_and_checked(arm, tmp_path):
    proc = run_cli("fix", str(arm), "--keyvault-api-version", "2026-05-15")
    assert proc.returncode == 0 and arm.read_text() == ARM_FIXED.replace("2026-02-01", "2026-05-15")
    arm.write_text(ARM)
    (tmp_path / ".preflight.toml").write_text('keyvault-api-version = "2026-03-01"\n')
    assert run_cli("fix", str(arm)).returncode == 0 and '"apiVersion": "2026-03-01"' in arm.read_text()
    for bad, message in (("2026-03-01-preview", "is a preview"), ("2025-05-01", "retires on 2027-02-27 too"),
                         ("latest", "is not an API version")):
        proc = run_cli("fix", str(arm), "--keyvault-api-version", bad)
        assert proc.returncode == 2 and message in proc.stderr


def test_selection_and_inline_suppressions_are_respected(arm):
    assert run_cli("fix", str(arm), "--select", "ENV").returncode == 0 and arm.read_text() == ARM
    arm.write_text(ARM.replace('"name": "kv-rbac",',
                               '"name": "kv-rbac", "metadata": {"preflight": {"ignore": ["KV019"]}},'))
    run_cli("fix", str(arm))
    assert '"apiVersion": "2023-07-01", "name": "kv-rbac"' in arm.read_text()
    assert '"apiVersion": "2022-11-01"' not in arm.read_text()


# ---------------------------------------------------------------------------------- corpus

VERDICTS = ("KV001", "KV002", "KV003", "KV004", "KV005", "KV006")


def _verdicts(paths: list[str], root: str) -> set[tuple]:
    """(file, rule, resource pointer, severity) of every access-policy verdict."""
    options, _ = build_options(build_parser().parse_args(["scan", "--no-cache", "--select", ",".join(VERDICTS)]))
    return {(os.path.relpath(f.path, root), f.rule, f.pointer, str(f.severity))
            for f in scan(paths, options).findings}


def test_corpus_fixed_in_a_copy_keeps_its_verdicts(corpus, tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy, symlinks=True)
    for folder, _, files in os.walk(copy):  # the shared corpus is read-only, and fix refuses read-only files
        os.chmod(folder, 0o755)
        for name in files:
            if not os.path.islink(os.path.join(folder, name)):
                os.chmod(os.path.join(folder, name), 0o644)
    started = time.perf_counter()
    options, _ = build_options(build_parser().parse_args(["scan", str(copy), "--select", "KV019", "--fix"]))
    result = run_fix([str(copy)], options, None)
    elapsed = time.perf_counter() - started
    touched = sorted(p.doc.abspath for p in result.plans if p.written)
    assert len(touched) > 150 and len([p for p in touched if p.endswith(".bicep")]) > 20 and elapsed < 60
    # Every touched file still parses, reports no implicit RBAC and no retiring version except
    # where the fix said it could not, and keeps its access-policy verdicts.
    options, _ = build_options(build_parser().parse_args(["scan", "--no-cache", "--select", "KV019,KV018,PF001"]))
    left = {(f.rule, f.path, f.line) for f in scan(touched, options).findings}
    unfixed = {("KV019", p.doc.path, p.doc.locate(n.pointer)[0]) for p, n in result.notes}
    assert left <= unfixed and len(unfixed) <= 3
    originals = [str(corpus / os.path.relpath(p, copy)) for p in touched]
    before = _verdicts(originals, str(corpus))
    assert len(before) > 50 and _verdicts(touched, str(copy)) == before
