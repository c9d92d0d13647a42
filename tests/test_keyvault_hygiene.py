"""KV007-KV018: vault settings Azure rejects or that weaken the vault, each on a bad and a good
template; nothing is reported from values that are not known."""
from __future__ import annotations

import json

import pytest

from preflight.engine import Options, scan
from preflight.findings import ERROR, INFO, WARNING

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
GOOD = {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
        "enableRbacAuthorization": True, "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"}}


def check(tmp_path, rule, properties=None, remove=(), name="kv-hygiene", api="2023-07-01", parameters=None, **top):
    props = dict(GOOD)
    for key in remove:
        props.pop(key, None)
    props.update(properties or {})
    resource = {"type": "Microsoft.KeyVault/vaults", "apiVersion": api, "name": name, "properties": props}
    resource.update(top)
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": parameters or {},
                                "resources": [resource]}))
    return [f for f in scan([str(path)], Options()).findings if f.rule == rule]


def test_the_good_vault_has_no_hygiene_findings(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [
        {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2026-02-01", "name": "kv-good", "properties": GOOD}]}))
    assert scan([str(path)], Options()).findings == []


def test_kv007_soft_delete_disabled(tmp_path):
    (f,) = check(tmp_path, "KV007", {"enableSoftDelete": False})
    assert f.severity == ERROR and f.pointer == "/resources/0/properties/enableSoftDelete"
    assert check(tmp_path, "KV007", {"enableSoftDelete": True}) == []
    assert check(tmp_path, "KV007", {"enableSoftDelete": "[parameters('sd')]"},
                 parameters={"sd": {"type": "bool"}}) == []


@pytest.mark.parametrize("days, bad", [(6, True), (91, True), (7, False), (90, False), ("90", False), ("365", True)])
def test_kv008_retention_range(tmp_path, days, bad):
    assert bool(check(tmp_path, "KV008", {"softDeleteRetentionInDays": days})) is bad


def test_kv009_purge_protection_false(tmp_path):
    (f,) = check(tmp_path, "KV009", {"enablePurgeProtection": False})
    assert f.severity == ERROR and "does not accept" in f.message
    assert check(tmp_path, "KV009", {"enablePurgeProtection": "[if(equals(1, 2), true(), null())]"}) == []


def test_kv010_literal_tenant(tmp_path):
    guid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    found = check(tmp_path, "KV010", {"tenantId": guid, "enableRbacAuthorization": False, "accessPolicies": [
        {"tenantId": guid, "objectId": "o", "permissions": {}}]})
    assert [f.pointer for f in found] == ["/resources/0/properties/tenantId",
                                          "/resources/0/properties/accessPolicies/0/tenantId"]
    assert check(tmp_path, "KV010", {"tenantId": "[parameters('t')]"},
                 parameters={"t": {"type": "string", "defaultValue": guid}}) == []


def test_kv011_tenant_mismatch(tmp_path):
    policies = [{"tenantId": "00000000-0000-0000-0000-000000000002", "objectId": "o", "permissions": {}}]
    (f,) = check(tmp_path, "KV011", {"tenantId": "00000000-0000-0000-0000-000000000001",
                                     "enableRbacAuthorization": False, "accessPolicies": policies})
    assert f.severity == ERROR and f.pointer.endswith("/accessPolicies/0/tenantId")
    same = [{"tenantId": "[subscription().tenantId]", "objectId": "o", "permissions": {}}]
    assert check(tmp_path, "KV011", {"enableRbacAuthorization": False, "accessPolicies": same}) == []


def test_kv012_duplicate_principal(tmp_path):
    entry = {"tenantId": "[subscription().tenantId]", "objectId": "[parameters('app')]", "permissions": {}}
    (f,) = check(tmp_path, "KV012", {"enableRbacAuthorization": False, "accessPolicies": [entry, dict(entry)]},
                 parameters={"app": {"type": "string"}})
    assert f.pointer.endswith("/accessPolicies/1") and "repeats the principal of policy 1" in f.message
    other = dict(entry, objectId="[parameters('other')]")
    assert check(tmp_path, "KV012", {"enableRbacAuthorization": False, "accessPolicies": [entry, other]},
                 parameters={"app": {"type": "string"}, "other": {"type": "string"}}) == []


def test_kv013_too_many_policies(tmp_path):
    # A copy loop stops at 800; more policies come from a list (here a parameter's default).
    many = [{"tenantId": "t", "objectId": f"o{i}", "permissions": {}} for i in range(1025)]
    params = {"policies": {"type": "array", "defaultValue": many}}
    (f,) = check(tmp_path, "KV013", {"enableRbacAuthorization": False, "accessPolicies": "[parameters('policies')]"},
                 parameters=params)
    assert "1025" in f.message
    params["policies"]["defaultValue"] = many[:1024]
    assert check(tmp_path, "KV013", {"enableRbacAuthorization": False, "accessPolicies": "[parameters('policies')]"},
                 parameters=params) == []


def test_kv014_all_permissions(tmp_path):
    entry = {"tenantId": "t", "objectId": "o", "permissions": {"secrets": ["All"], "keys": ["get"]}}
    (f,) = check(tmp_path, "KV014", {"enableRbacAuthorization": False, "accessPolicies": [entry]})
    assert f.severity == WARNING and "`all` secrets" in f.message


@pytest.mark.parametrize("properties, remove, open_", [
    ({"networkAcls": {"defaultAction": "Allow"}}, (), True),
    ({}, ("networkAcls",), True),
    ({"publicNetworkAccess": "Disabled"}, ("networkAcls",), False),
    ({"networkAcls": {"defaultAction": "[parameters('action')]"}}, (), False),
    ({}, (), False),
])
def test_kv015_open_network(tmp_path, properties, remove, open_):
    found = check(tmp_path, "KV015", properties, remove, parameters={"action": {"type": "string"}})
    assert bool(found) is open_


@pytest.mark.parametrize("sku, expected", [
    ({"family": "A", "name": "premium"}, []),
    ({"family": "A", "name": "Standard"}, [INFO]),
    ({"family": "B", "name": "standard"}, [ERROR]),
    ({"family": "A", "name": "basic"}, [ERROR]),
    ({"name": "standard"}, [ERROR]),
    (None, [ERROR]),
])
def test_kv016_sku(tmp_path, sku, expected):
    props = {} if sku is None else {"sku": sku}
    found = check(tmp_path, "KV016", props, remove=("sku",) if sku is None else ())
    assert [f.severity for f in found] == expected


@pytest.mark.parametrize("name, expected", [
    ("kv-ok-1", []),
    ("kv_bad", [ERROR]),
    ("kv", [ERROR]),
    ("a" * 25, [ERROR]),
    ("1kv-x", [WARNING]),
    ("kv--x", [WARNING]),
    ("[concat('kv-', uniqueString(resourceGroup().id))]", []),  # not known offline: not checked
    ("dep-#_namePrefix_#-kv-averylongsuffix", []),  # the pipeline replaces the token before deploying
])
def test_kv017_name(tmp_path, name, expected):
    assert [f.severity for f in check(tmp_path, "KV017", name=name)] == expected


def test_kv018_implicit_rbac_from_api_2026(tmp_path):
    policies = {"accessPolicies": [{"tenantId": "t", "objectId": "o", "permissions": {}}]}
    (f,) = check(tmp_path, "KV018", policies, remove=("enableRbacAuthorization",), api="2026-02-01")
    assert f.severity == WARNING and "2026-02-01" in f.message
    assert check(tmp_path, "KV018", policies, remove=("enableRbacAuthorization",), api="2025-05-01") == []
    assert check(tmp_path, "KV018", dict(policies, enableRbacAuthorization=False), api="2026-02-01") == []


def test_settings_of_a_vault_that_is_not_deployed_are_not_reported(tmp_path):
    assert check(tmp_path, "KV007", {"enableSoftDelete": False}, condition=False) == []


def test_unknown_deployment_caps_errors_at_warning(tmp_path):
    (f,) = check(tmp_path, "KV009", {"enablePurgeProtection": False}, condition="[parameters('c')]",
                 parameters={"c": {"type": "bool"}})
    assert f.severity == WARNING and "; if deployed (parameter 'c' has no value" in f.message
