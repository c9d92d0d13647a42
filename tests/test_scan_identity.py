"""A large scan reports the same bytes however it runs: in one process without the cache, in the
worker pool, and from a warm cache. The tree is generated here, large enough for the pool
(engine.POOL_MIN_FILES), with findings in every format, positions in strict JSON, in JSON that
only the lenient reader accepts (comments, duplicate keys) and in Bicep through a module, one
of them shared by many callers (compiled once per process, preflight.bicep.reuse)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from preflight import engine
from preflight.engine import Options

from conftest import run_cli

GROUPS = 84  # five files each: 420


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _template(i: int) -> str:
    vault = {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2019-09-01", "name": f"kv{i}",
             "location": "[resourceGroup().location]",
             "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
                            "accessPolicies": [], "enableSoftDelete": i % 2 == 0}}
    workspace = {"type": "Microsoft.MachineLearningServices/workspaces", "apiVersion": "2023-04-01",
                 "name": f"ws{i}", "location": "[parameters('location')]",
                 "properties": {"keyVault": f"[resourceId('Microsoft.KeyVault/vaults', 'kv{i}')]",
                                "friendlyName": "[variables('missing')]"}}
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0",
                "parameters": {"location": {"type": "string", "defaultValue": "westeurope",
                                            "allowedValues": ["northeurope"]}},
                "resources": [vault, workspace]}
    text = json.dumps(template, indent=2 if i % 3 else None)
    if i % 7 == 0:
        text = "// a comment, as ARM accepts\n" + text
    if i % 11 == 0:
        text = text.replace('"contentVersion"', '"contentVersion": "0.9", "contentVersion"')
    return text


def generate(root: Path) -> int:
    for i in range(GROUPS):
        arm = root / f"t{i % 9}" / f"arm{i}"
        _write(arm / "azuredeploy.json", _template(i))
        _write(arm / "azuredeploy.parameters.json", json.dumps({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0", "parameters": {"location": {"value": "westus"}, "unknown": {"value": 1}}},
            indent=2))
        bicep = root / f"b{i % 5}" / f"mod{i}"
        _write(bicep / "vault.bicep", "param name string\n"
               "resource kv 'Microsoft.KeyVault/vaults@2019-09-01' = {\n  name: name\n"
               "  location: resourceGroup().location\n  properties: {\n    tenantId: subscription().tenantId\n"
               "    sku: { family: 'A', name: 'standard' }\n    accessPolicies: []\n  }\n}\n")
        # and a module shared by the callers of a folder, which calls one of its own
        _write(bicep / "main.bicep",
               f"module v 'vault.bicep' = {{\n  name: 'v{i}'\n  params: {{ name: 'kv{i}' }}\n}}\n"
               f"module s '../shared/vaults.bicep' = {{\n  name: 's{i}'\n  params: {{ prefix: 'kv{i}' }}\n}}\n")
        _write(root / f"e{i % 4}" / f"env{i}" / "conda.yml",
               f"name: e{i}\ndependencies:\n  - python=3.{6 + i % 5}\n  - pip\n  - pip:\n    - numpy\n"
               f"    - azureml-core=={1 + i % 2}.0.0\n")
    for group in range(5):
        shared = root / f"b{group}" / "shared"
        _write(shared / "vaults.bicep", "param prefix string\n"
               "module inner 'vault.bicep' = {\n  name: 'inner'\n  params: { name: '${prefix}-s' }\n}\n")
        _write(shared / "vault.bicep", (bicep / "vault.bicep").read_text())
    return 5 * GROUPS + 2 * 5


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_sequential_pool_and_warm_cache_print_the_same_bytes(tmp_path, monkeypatch, fmt):
    monkeypatch.delenv("PREFLIGHT_NO_CACHE")
    files = generate(tmp_path / "repo")
    assert files >= engine.POOL_MIN_FILES and engine._workers(Options(jobs=2), files) == 2  # the pool runs
    scan = ("scan", "--format", fmt, "repo")
    cache = ("--cache-dir", str(tmp_path / "cache"))
    sequential = run_cli(*scan, "--jobs", "1", "--no-cache", cwd=tmp_path)
    pool = run_cli(*scan, "--jobs", "2", *cache, cwd=tmp_path)
    warm = run_cli(*scan, "--jobs", "2", *cache, cwd=tmp_path)
    assert sequential.returncode == pool.returncode == warm.returncode == 1, sequential.stderr
    assert warm.stdout == pool.stdout == sequential.stdout
    assert list((tmp_path / "cache").rglob("*.json"))  # the warm run had a cache to read
    if fmt == "json":
        findings = json.loads(sequential.stdout)["findings"]
        rules = {f["rule"] for f in findings}
        assert {"KV001", "ARM001", "ENV005"} <= rules
        lines = {(f["path"].split("/")[-1], f["line"]) for f in findings}
        # positions were really looked up: in strict JSON, in lenient JSON, and in Bicep
        assert any(name == "azuredeploy.json" and line > 10 for name, line in lines)
        for lenient in ("arm7", "arm11", "arm77"):  # a comment, a duplicate key, both
            assert any(f["path"].endswith(f"{lenient}/azuredeploy.json") and f["line"] > 3 for f in findings)
        assert any(name == "vault.bicep" for name, _ in lines)  # through the module, reported in it
        shared = [f for f in findings if f["path"].endswith("shared/vault.bicep")]
        assert len(shared) >= GROUPS and all(f["data"]["callers"] for f in shared)  # one for each caller
