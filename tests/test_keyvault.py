"""KV001-KV006: what a redeploy does to a Key Vault's access policies (SPEC §1.5), on the
SPEC §2.6 fixtures (a)-(g) and on templates built for one behaviour each; and the
`vault_deployments` interface the live check reads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from preflight.arm.values import Unknown
from preflight.arm.vaults import vault_deployments
from preflight.documents import load_document
from preflight.contract import Options
from preflight.engine import DocumentStore, ScanContext, scan
from preflight.findings import ERROR, INFO, WARNING

from conftest import scan_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "arm"
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
ACCESS_RULES = ("KV001", "KV002", "KV003", "KV004", "KV005", "KV006")


def findings(*paths, rules=ACCESS_RULES, **options):
    result = scan([str(p) for p in paths], Options(**options))
    return [f for f in result.findings if f.rule in rules]


def vault(properties=None, **top):
    r = {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv-test",
         "location": "westeurope", "properties": {"tenantId": "[subscription().tenantId]",
                                                 "sku": {"family": "A", "name": "standard"}}}
    r["properties"].update(properties or {})
    r.update(top)
    return r


def write_template(tmp_path, resources, parameters=None, variables=None, name="azuredeploy.json", **extra):
    body = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": parameters or {},
            "variables": variables or {}, "resources": resources}
    body.update(extra)
    path = tmp_path / name
    path.write_text(json.dumps(body, indent=2))
    return path


def vaults_of(path, **options):
    opts = Options(**options)
    doc = load_document(str(path), Path(path).read_bytes())
    return vault_deployments(doc, ScanContext(opts, DocumentStore(opts)))


# ------------------------------------------------------------------- SPEC §2.6 (a)-(g)

def test_a_workspace_template_with_empty_policies_is_kv001_naming_the_workspace():
    (f,) = findings(FIXTURES / "spec-a-workspace")
    assert (f.rule, f.severity, f.pointer) == ("KV001", ERROR, "/resources/0/properties/accessPolicies")
    assert "`[variables('keyVaultName')]`" in f.message  # the name is not known offline: its expression
    assert "workspace 'mlw-demo'" in f.message and "loses access" in f.message
    assert len(f.fix) <= 120 and "RBAC" in f.fix and "`accessPolicies/add`" in f.fix  # one line
    # the options in order of robustness are in the rule's documentation (`preflight rule KV001`)
    from preflight.contract import REGISTRY
    from preflight.rulepacks import load_rule_packs
    load_rule_packs()
    docs = REGISTRY["KV001"].docs.split("## How to fix")[1]
    assert docs.index("Azure RBAC") < docs.index("condition") < docs.index("named `add`") < docs.index("reference(")
    assert f.line == 29


def test_b_condition_false_in_the_parameter_file_is_nothing():
    assert findings(FIXTURES / "spec-b-condition") == []


def test_b_condition_true_from_the_command_line_is_a_warning_naming_the_switch():
    (f,) = findings(FIXTURES / "spec-b-condition", params={"createKeyVault": True})
    assert f.rule == "KV001" and f.severity == WARNING
    assert f.message.endswith("; if createKeyVault=true (--param)")
    assert f.data["conditions"] == ["[parameters('createKeyVault')]"]  # the condition as written


def test_c_symbolic_existing_vault_with_an_add_child_is_nothing():
    assert findings(FIXTURES / "spec-c-symbolic-existing") == []
    (kv,) = vaults_of(FIXTURES / "spec-c-symbolic-existing" / "main.json")
    assert kv.branch == "not-deployed" and "existing" in kv.status.reason


def test_d_property_copy_is_a_list_not_a_missing_property():
    (f,) = findings(FIXTURES / "spec-d-property-copy")
    assert f.rule == "KV003" and f.severity == WARNING and "declares 2 access policies" in f.message
    assert f.pointer == "/resources/0/properties/copy/0"


def test_e_inner_deployment_fed_with_the_live_policies_is_preserving_info():
    (f,) = findings(FIXTURES / "spec-e-inner-reference")
    assert f.rule == "KV005" and f.severity == INFO and "'kv-keep'" in f.message
    (kv,) = vaults_of(FIXTURES / "spec-e-inner-reference" / "azuredeploy.json")
    assert kv.branch == "preserving" and kv.preserving_how == "reference"


def test_f_escaped_brackets_are_literal_text():
    (f,) = findings(FIXTURES / "spec-f-escape")
    assert f.rule == "KV003" and "'[vaultName]'" in f.message
    (kv,) = vaults_of(FIXTURES / "spec-f-escape" / "azuredeploy.json")
    assert kv.name == "[vaultName]"
    assert kv.policies[0]["objectId"] == "[parameters('notEvaluated')]"


def test_g_outer_scope_nested_template_reads_the_parents_parameters():
    got = {(f.rule, f.severity) for f in findings(FIXTURES / "spec-g-outer-scope")}
    # Defaults: the parent's `accessPolicies` default [] (the nested template's own default is
    # ignored in outer scope); the prod parameter file gives one policy.
    assert got == {("KV001", ERROR), ("KV003", WARNING)}
    by_rule = {f.rule: f for f in findings(FIXTURES / "spec-g-outer-scope")}
    assert "(with the defaults)" in by_rule["KV001"].message
    assert "with parameter file azuredeploy.parameters.prod.json)" in by_rule["KV003"].message


# ------------------------------------------------------------------------ decision branches

def test_nested_three_levels_deep():
    (f,) = findings(FIXTURES / "nested-three-levels")
    assert f.rule == "KV001" and f.severity == ERROR and "'kv-deep'" in f.message


def test_linked_template_reported_in_the_linked_file_naming_the_deployment_that_links_it():
    found = findings(FIXTURES / "linked" / "main.json")
    (f,) = found
    assert f.rule == "KV001" and f.path == str(FIXTURES / "linked" / "modules" / "vault.json")
    assert f.pointer.startswith("/resources/0/properties") and "declared in" not in f.message
    assert f.data["callers"] == [f"{FIXTURES / 'linked' / 'main.json'}:11"]  # the deployment


def test_guarded_by_a_parameter_default_is_a_warning_naming_the_value():
    (f,) = findings(FIXTURES / "guarded-condition")
    assert f.severity == WARNING
    assert f.data["conditions"] == ["[equals(parameters('keyVaultOption'), 'new')]"]
    assert f.message.endswith("; if keyVaultOption=new (its default)")
    assert findings(FIXTURES / "guarded-condition", params={"keyVaultOption": "existing"}) == []


@pytest.mark.parametrize("rbac, expected", [
    (True, []),
    ("true", []),
    (False, [("KV001", ERROR)]),
    ("[parameters('useRbac')]", [("KV001", ERROR)]),  # the default is false
    ("[parameters('rbacUnknown')]", [("KV001", WARNING)]),
])
def test_rbac_mode(tmp_path, rbac, expected):
    path = write_template(tmp_path, [vault({"accessPolicies": [], "enableRbacAuthorization": rbac})],
                          parameters={"useRbac": {"type": "bool", "defaultValue": False},
                                      "rbacUnknown": {"type": "bool"}})
    got = findings(path)
    assert [(f.rule, f.severity) for f in got] == expected
    if expected and expected[0][1] == WARNING:
        assert "unless `enableRbacAuthorization`" in got[0].message and "rbacUnknown" in got[0].message


def test_rbac_default_from_api_2026_02_01_caps_the_wipe_at_a_warning(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": []}, apiVersion="2026-02-01")])
    (f,) = findings(path)
    assert (f.rule, f.severity) == ("KV001", WARNING) and "2026-02-01" in f.message


def test_policies_from_a_parameter_defaulting_to_empty_are_kv001(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": "[parameters('policies')]"})],
                          parameters={"policies": {"type": "array", "defaultValue": []}})
    (f,) = findings(path)
    assert (f.rule, f.severity) == ("KV001", ERROR)
    assert "has `accessPolicies` `[parameters('policies')]` = []" in f.message
    one = [{"tenantId": "t", "objectId": "o", "permissions": {"secrets": ["get"]}}]
    assert [(f.rule, f.severity) for f in findings(path, params={"policies": one})] == [("KV003", WARNING)]


def test_policies_from_a_parameter_without_value_are_undetermined(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": "[parameters('policies')]"})],
                          parameters={"policies": {"type": "array"}})
    (f,) = findings(path)
    assert (f.rule, f.severity) == ("KV004", WARNING)
    assert "parameter 'policies' has no value" in f.message and "--param policies=VALUE" in f.message


def test_policies_known_only_at_deployment_are_undetermined_info(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": "[reference('other').policies]"})])
    (f,) = findings(path)
    assert (f.rule, f.severity) == ("KV004", INFO) and "--live" in f.message


@pytest.mark.parametrize("properties, expected", [
    ({}, [("KV002", ERROR)]),
    ({"accessPolicies": None}, [("KV002", ERROR)]),
    ({"createMode": "recover"}, [("KV005", INFO)]),
    ({"createMode": "[parameters('mode')]"}, [("KV002", WARNING)]),
    ({"createMode": "recover", "accessPolicies": [{"objectId": "x", "tenantId": "t"}]},
     [("KV006", WARNING), ("KV003", WARNING)]),
])
def test_missing_policies_and_create_mode(tmp_path, properties, expected):
    path = write_template(tmp_path, [vault(properties)], parameters={"mode": {"type": "string"}})
    assert sorted((f.rule, f.severity) for f in findings(path)) == sorted(expected)


def test_recover_trick_switch_is_preserving(tmp_path):
    path = write_template(tmp_path, [vault({
        "accessPolicies": "[if(parameters('exists'), json('null'), json('[]'))]",
        "createMode": "[if(parameters('exists'), 'recover', 'default')]"})],
        parameters={"exists": {"type": "bool", "defaultValue": False}})
    (f,) = findings(path)
    assert f.rule == "KV005" and "createMode: recover" in f.message


def test_preserving_reference_through_a_variable_and_union(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": "[variables('merged')]"}, name="[parameters('n')]")],
                          parameters={"n": {"type": "string", "defaultValue": "kv-m"}},
                          variables={"merged": "[union(reference(resourceId('Microsoft.KeyVault/vaults', "
                                               "parameters('n')), '2023-07-01').accessPolicies, createArray())]"})
    (f,) = findings(path)
    assert f.rule == "KV005"


def test_reading_another_vaults_policies_is_not_preserving(tmp_path):
    expression = ("[reference(resourceId('Microsoft.KeyVault/vaults', 'kv-other'), '2023-07-01').accessPolicies]")
    path = write_template(tmp_path, [vault({"accessPolicies": expression})])
    (f,) = findings(path)
    assert f.rule == "KV004"


def test_add_child_for_another_vault_does_not_excuse_this_one(tmp_path):
    # PSRule's trap: a read-merge `add` on vault 'kv' next to a vault 'kv-2' with no policies.
    add = {"type": "Microsoft.KeyVault/vaults/accessPolicies", "apiVersion": "2023-07-01",
           "name": "[format('{0}/add', parameters('n'))]",
           "properties": {"accessPolicies": "[union(reference(resourceId('Microsoft.KeyVault/vaults', "
                                            "parameters('n')), '2023-07-01').accessPolicies, createArray())]"}}
    path = write_template(tmp_path, [dict(vault(), name="[format('{0}-2', parameters('n'))]", properties={}), add],
                          parameters={"n": {"type": "string", "defaultValue": "kv"}})
    (f,) = findings(path)
    assert f.rule == "KV002" and "'kv-2'" in f.message
    (kv,) = vaults_of(path)
    assert kv.operations == []


def test_one_finding_across_parameter_files_naming_them(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": []}, name="[parameters('n')]")],
                          parameters={"n": {"type": "string", "defaultValue": "kv-default"}})
    for env in ("dev", "prod"):
        (tmp_path / f"azuredeploy.parameters.{env}.json").write_text(json.dumps(
            {"parameters": {"n": {"value": f"kv-{env}"}}}))
    (f,) = findings(path)
    assert "`[parameters('n')]` ('kv-default', 'kv-dev', 'kv-prod')" in f.message
    # it holds whatever the parameters: the message names no parameter set, the data names them all
    assert f.message.endswith("a redeploy wipes its access policies") and f.data["defaults"] is True
    assert f.data["parameterFiles"] == [str(tmp_path / "azuredeploy.parameters.dev.json"),
                                        str(tmp_path / "azuredeploy.parameters.prod.json")]


def test_add_operations_are_mentioned_and_listed_in_order(tmp_path):
    def op(kind, oid):
        return {"type": "Microsoft.KeyVault/vaults/accessPolicies", "apiVersion": "2023-07-01",
                "name": f"kv-test/{kind}", "properties": {"accessPolicies": [
                    {"tenantId": "[subscription().tenantId]", "objectId": oid, "permissions": {"Secrets": ["get"]}}]}}
    path = write_template(tmp_path, [vault({"accessPolicies": []}), op("add", "a"), op("remove", "b"),
                                     op("add", "c")])
    (f,) = findings(path)
    assert "its 2 `accessPolicies/add` re-grant only their own principals" in f.message
    (kv,) = vaults_of(path)
    assert [(o.kind, o.normalized_policies[0]["objectId"]) for o in kv.operations] == \
        [("add", "a"), ("remove", "b"), ("add", "c")]
    assert kv.operations[0].normalized_policies[0]["permissions"] == {"secrets": ["get"]}


def test_unknown_condition_is_a_warning_if_deployed(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": []}, condition="[reference('x').exists]")])
    (f,) = findings(path)
    assert f.severity == WARNING and "; if deployed (`reference(x).exists` is read from Azure" in f.message


# ----------------------------------------------------------- the live check's interface

def test_vault_deployments_carry_what_the_live_check_needs(tmp_path):
    inner_template = {"$schema": SCHEMA, "contentVersion": "1.0.0.0",
                      "parameters": {"name": {"type": "string"}},
                      "resources": [vault({"accessPolicies": [{"tenantId": "tenant-x", "objectId": "obj-1",
                                                               "applicationId": "", "permissions": {"keys": ["get"]}}],
                                           "enableRbacAuthorization": False, "tenantId": "tenant-x"},
                                          name="[parameters('name')]", apiVersion="2022-07-01")]}
    deployment = {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "kv",
                  "resourceGroup": "rg-security",
                  "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                                 "parameters": {"name": {"value": "kv-live"}}, "template": inner_template}}
    path = write_template(tmp_path, [deployment])
    (kv,) = vaults_of(path)
    assert kv.name == "kv-live" and kv.name_expression == "[parameters('name')]"
    assert (kv.subscription_id, kv.resource_group) == (None, "rg-security")
    assert kv.api_version == "2022-07-01" and kv.tenant_id == "tenant-x"
    assert kv.branch == "declared" and kv.enable_rbac_authorization is False and kv.create_mode is None
    assert kv.normalized_policies == [{"tenantId": "tenant-x", "objectId": "obj-1", "applicationId": None,
                                       "permissions": {"keys": ["get"]}}]
    assert kv.pointer == "/resources/0/properties/template/resources/0" and kv.parameter_file is None
    assert kv.document.path == str(path)


def test_unresolved_names_are_none_with_the_expression(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": []},
                                           name="[concat('kv-', uniqueString(resourceGroup().id))]")])
    (kv,) = vaults_of(path)
    assert kv.name is None and isinstance(kv.name_value, Unknown)
    assert kv.name_expression == "[concat('kv-', uniqueString(resourceGroup().id))]"
    assert isinstance(kv.tenant_id, Unknown)


def test_the_cli_reports_kv001_in_json(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": []})])
    report, proc = scan_json(str(path), "--select", "KV001")
    assert proc.returncode == 1
    (f,) = report["findings"]
    assert f["rule"] == "KV001" and f["severity"] == "error" and f["data"]["vault"] == "kv-test"
    assert f["data"]["branch"] == "declared" and f["data"]["apiVersion"] == "2023-07-01"


def _workspace(keyvault="[resourceId('Microsoft.KeyVault/vaults', 'kv-test')]"):
    return {"type": "Microsoft.MachineLearningServices/workspaces", "apiVersion": "2023-04-01", "name": "mlw",
            "identity": {"type": "SystemAssigned"}, "properties": {"keyVault": keyvault}}


def test_a_list_that_grants_the_workspace_identity_does_not_claim_the_workspace_loses_access(tmp_path):
    granted = {"tenantId": "[subscription().tenantId]", "permissions": {"secrets": ["get"]},
               "objectId": "[reference(resourceId('Microsoft.MachineLearningServices/workspaces', 'mlw'), "
                           "'2023-04-01', 'full').identity.principalId]"}
    path = write_template(tmp_path, [vault({"accessPolicies": [granted]}), _workspace()])
    (f,) = findings(path)
    assert f.rule == "KV003" and "workspace" not in f.message
    other = dict(granted, objectId="00000000-0000-0000-0000-000000000001")
    path = write_template(tmp_path, [vault({"accessPolicies": [other]}), _workspace()])
    (f,) = findings(path)
    assert f.message.endswith("; Azure ML workspace 'mlw' loses access")


def test_a_workspace_using_another_vault_is_not_mentioned(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": []}),
                                     _workspace("[resourceId('Microsoft.KeyVault/vaults', 'kv-elsewhere')]")])
    (f,) = findings(path)
    assert f.rule == "KV001" and "workspace" not in f.message


def test_copies_of_one_vault_are_one_finding(tmp_path):
    path = write_template(tmp_path, [vault({"accessPolicies": []}, name="[concat('kv-', copyIndex())]",
                                           copy={"name": "vaults", "count": 2})])
    (f,) = findings(path)
    assert "`[concat('kv-', copyIndex())]` ('kv-0', 'kv-1')" in f.message
    assert [kv.name for kv in vaults_of(path)] == ["kv-0", "kv-1"]


def test_every_kv_message_is_one_short_line():
    """A message names the vault and the value that is wrong; the explanation is in the rule's
    documentation, so the first line stays short even with caveats and parameter files."""
    root = FIXTURES.parent
    found = [f for f in scan([str(root / "arm"), str(root / "bicep"), str(root / "demo")], Options()).findings
             if f.rule.startswith("KV")]
    assert {"KV001", "KV002", "KV003", "KV004", "KV005", "KV015", "KV017", "KV019"} <= {f.rule for f in found}
    long = [(f.rule, f.path, f.message) for f in found if len(f.message.split("\n")[0]) > 160]
    assert long == []
    assert all(f.fix is None or ("\n" not in f.fix and len(f.fix) <= 160) for f in found)


def test_a_workspace_named_differently_by_the_parameter_files_is_named_once_with_either_name(tmp_path):
    workspace = dict(_workspace(), name="[parameters('ws')]")
    path = write_template(tmp_path, [vault({"accessPolicies": []}), workspace],
                          parameters={"ws": {"type": "string"}})
    for env in ("dev", "prod"):
        (tmp_path / f"azuredeploy.parameters.{env}.json").write_text(json.dumps(
            {"parameters": {"ws": {"value": f"mlw-{env}"}}}))
    (f,) = findings(path)
    assert f.rule == "KV001" and f.message.endswith("; Azure ML workspace 'mlw-dev' or 'mlw-prod' loses access")
    # the data is the first parameter set's: the defaults, where the name is not known offline
    assert f.data["workspaces"] == ["[parameters('ws')]"] and len(f.data["parameterFiles"]) == 2


def test_vaults_past_the_instance_limit_are_a_kv004_notice_though_none_was_evaluated(tmp_path):
    """A template whose vaults all lie past the instances an evaluation expands has no vault to
    judge, yet KV004 says they were not checked (the other access rules say nothing)."""
    many = [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01",
             "name": f"[concat('st{i}', copyIndex())]", "location": "westeurope",
             "copy": {"name": f"many{i}", "count": 800}} for i in range(7)]  # 5,600 instances
    path = write_template(tmp_path, many + [vault({"accessPolicies": []})])
    assert vaults_of(path) == []
    found = findings(path)
    assert [(f.rule, f.severity, f.data.get("notChecked")) for f in found] == [("KV004", INFO, 1)]
    assert "not checked" in found[0].message
