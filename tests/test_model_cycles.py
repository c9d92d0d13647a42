"""A checked file's models are freed by reference counting when the engine drops the file: the
template and evaluation models hold no reference cycles (their back-pointers are weak,
`preflight.arm.template.Backref`), so a scan leaves nothing of them for the cyclic collector."""
from __future__ import annotations

import gc
import json
import os
from collections import Counter

import pytest

from preflight.arm.template import ResourceDecl, Template
from preflight import engine
from preflight.contract import Options

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def _vault(name: str) -> dict:
    return {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": name,
            "location": "westeurope",
            "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
                           "accessPolicies": []}}


def _template(resources: list, parameters: dict | None = None, variables: dict | None = None) -> dict:
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": parameters or {},
            "variables": variables or {}, "resources": resources}


def _write_fixture(root) -> None:
    """An ARM template with every kind of link its models have: a parameter file (with an
    environment substitution), parameters and variables, a resource with a nested child, an
    inner-scope inline deployment given a parent's value, and a relativePath linked template;
    and a Bicep file with a nested resource and a module."""
    parent_with_child = {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01",
                         "name": "[variables('store')]", "location": "westeurope",
                         "resources": [{"type": "blobServices", "apiVersion": "2023-01-01", "name": "default",
                                        "dependsOn": ["[variables('store')]"]}]}
    inline = {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inline",
              "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                             "parameters": {"vaultName": {"value": "[concat(parameters('prefix'), '-inner')]"}},
                             "template": _template([_vault("[parameters('vaultName')]")],
                                                   {"vaultName": {"type": "string"}})}}
    linked = {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "linked",
              "properties": {"mode": "Incremental", "templateLink": {"relativePath": "linked.json"},
                             "parameters": {"vaultName": {"value": "[concat(parameters('prefix'), '-linked')]"}}}}
    main = _template([parent_with_child, inline, linked, _vault("[concat(parameters('prefix'), '-top')]")],
                     {"prefix": {"type": "string", "defaultValue": "kv"}, "owner": {"type": "string"}},
                     {"store": "[concat(parameters('prefix'), 'store')]"})
    (root / "main.json").write_text(json.dumps(main))
    (root / "main.parameters.json").write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
        "contentVersion": "1.0.0.0", "parameters": {"owner": {"value": "${AZURE_PRINCIPAL_ID}"}}}))
    (root / "linked.json").write_text(json.dumps(_template([_vault("[parameters('vaultName')]")],
                                                           {"vaultName": {"type": "string"}})))
    (root / "app.bicep").write_text(
        "param name string = 'kvapp'\n"
        "resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {\n"
        "  name: name\n  location: 'westeurope'\n"
        "  properties: {\n    tenantId: subscription().tenantId\n    sku: { family: 'A', name: 'standard' }\n"
        "    accessPolicies: []\n  }\n"
        "  resource secret 'secrets' = {\n    name: 'one'\n    properties: { value: 'x' }\n  }\n}\n"
        "module store 'store.bicep' = {\n  name: 'store'\n  params: { name: '${name}st' }\n}\n")
    (root / "store.bicep").write_text(
        "param name string\n"
        "resource account 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n"
        "  name: name\n  location: 'westeurope'\n  kind: 'StorageV2'\n  sku: { name: 'Standard_LRS' }\n}\n")


def _project_objects(objects: list) -> Counter:
    """The objects of the project's own code among `objects`: instances of its classes, and its
    functions (a nested function that calls itself is a cycle too)."""
    found: Counter = Counter()
    for obj in objects:
        if type(obj).__module__.startswith("preflight."):
            found[type(obj).__qualname__] += 1
        elif "preflight" in getattr(getattr(obj, "__code__", None), "co_filename", ""):
            found[f"function {obj.__qualname__}"] += 1
    return found


def test_checking_a_file_leaves_no_model_in_reference_cycles(tmp_path, monkeypatch):
    """What the collector finds once each file's check is over (the engine drops the file's
    models there), with nested deployments, a linked template, a parameter file and Bicep
    modules. (Documents the scan keeps or loads on demand are released at its end.)"""
    _write_fixture(tmp_path)
    left: dict[str, Counter] = {}
    check_file = engine._check_file

    def check_and_census(item, *args, **kwargs):
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            return check_file(item, *args, **kwargs)
        finally:
            gc.collect()
            gc.set_debug(0)
            left[os.path.basename(item.path)] = _project_objects(gc.garbage)
            gc.garbage.clear()

    monkeypatch.setattr(engine, "_check_file", check_and_census)
    result = engine.scan([str(tmp_path)], Options(jobs=1))

    # The models were really built: the vaults of the top template, of the inline and of the
    # linked deployment, and of the Bicep file, are each found open to every network.
    open_vaults = sorted((os.path.basename(f.path), f.message.split(" accepts")[0])
                         for f in result.findings if f.rule == "KV015")
    assert open_vaults == [("app.bicep", "Key Vault `vault` ('kvapp')"), ("linked.json", "Key Vault 'kv-linked'"),
                           ("main.json", "Key Vault 'kv-inner'"), ("main.json", "Key Vault 'kv-top'")]
    assert set(left) >= {"main.json", "linked.json", "app.bicep", "store.bicep"}
    assert {name: found for name, found in left.items() if found} == {}


def test_back_pointers_do_not_keep_their_owner_alive():
    template = Template.from_json(_template([{"type": "Microsoft.Storage/storageAccounts", "name": "a",
                                              "resources": [{"type": "blobServices", "name": "default"}]}]))
    resource = template.resources[0]
    child = resource.children[0]
    assert child.parent is resource and child.template is template and resource.template is template
    assert ResourceDecl(type="t", name="n").template is None  # the dataclass default

    del template
    # A back-pointer read once its owner is gone is a mistake in the code, said so, never a None
    # that would read as "declared nowhere".
    with pytest.raises(ReferenceError):
        resource.template
    assert child.parent is resource  # the resource itself is still held here


def test_resources_keep_what_they_were_evaluated_in_after_their_document_is_dropped(tmp_path):
    """A caller may keep a template's resources and drop the document: the weak back-pointers
    never make them fail later, whenever the collector runs."""
    from preflight.arm.deployments import deployed_resources
    from preflight.documents import load_document
    from preflight.engine import DocumentStore, ScanContext

    _write_fixture(tmp_path)
    (tmp_path / "main.parameters.json").unlink()
    path = tmp_path / "main.json"
    options = Options()
    resources = deployed_resources(load_document(str(path), path.read_bytes()),
                                   ScanContext(options, DocumentStore(options)), "Microsoft.KeyVault/vaults")
    gc.collect()
    assert [(r.name, r.local, r.parameter_file, r.document.path.rsplit("/", 1)[-1]) for r in resources] == [
        ("kv-inner", True, None, "main.json"), ("kv-linked", False, None, "linked.json"),
        ("kv-top", True, None, "main.json")]
