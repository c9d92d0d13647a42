"""How values reach a template's parameters, and when its parts deploy, as Azure Resource Manager
decides: null values, values the Azure Developer CLI substitutes, the conditions of enclosing
deployments, and user-defined types (`definitions`, `$ref`, `nullable`)."""
from __future__ import annotations

import json

from preflight.arm.values import Unknown
from preflight.engine import Options, scan

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
METHOD = {"type": "string", "defaultValue": "Dynamic", "allowedValues": ["Dynamic", "Static"]}


def template(parameters=None, resources=None, **extra):
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": parameters or {},
            "resources": resources or [], **extra}


def write(path, body):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2))
    return path


def nested(inner, parameters, condition=None, name="module"):
    resource = {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": name,
                "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                               "parameters": parameters, "template": inner}}
    if condition is not None:
        resource["condition"] = condition
    return resource


def findings(path, *rules, **options):
    return [f for f in scan([str(path)], Options(**options)).findings if f.rule in rules]


# ------------------------------------------------------------------------------ null values

def test_null_passed_to_a_nested_deployment_means_its_default(tmp_path):
    inner = template({"method": METHOD})
    path = write(tmp_path / "main.json", template(resources=[nested(inner, {"method": {"value": None}})]))
    assert findings(path, "ARM001") == []
    # an expression that evaluates to null is no value either; a real value is still checked
    for value, bad in (("[json('null')]", False), ("[if(true(), null(), 'x')]", False), ("Basic", True)):
        path = write(tmp_path / "main.json", template(resources=[nested(inner, {"method": {"value": value}})]))
        found = findings(path, "ARM001")
        assert len(found) == bad, (value, found)
        if bad:
            assert "'Basic' (passed by the enclosing deployment)" in found[0].message


def test_null_for_a_parameter_with_a_bad_default_reports_the_default(tmp_path):
    inner = template({"method": dict(METHOD, defaultValue="Basic")})
    path = write(tmp_path / "main.json", template(resources=[nested(inner, {"method": {"value": None}})]))
    (f,) = findings(path, "ARM001")
    assert "'Basic' (its defaultValue)" in f.message


def test_null_without_a_default_is_not_a_value_to_check(tmp_path):
    spec = {"type": "string", "allowedValues": ["Dynamic", "Static"], "minLength": 5}
    inner = template({"method": spec})
    path = write(tmp_path / "main.json", template(resources=[nested(inner, {"method": {"value": None}})]))
    assert findings(path, "ARM001", "ARM002") == []


def test_null_in_a_parameter_file_means_the_default(tmp_path):
    path = write(tmp_path / "azuredeploy.json", template({"method": METHOD, "size": {"type": "int", "defaultValue": 3,
                                                                                     "minValue": 1}}))
    write(tmp_path / "azuredeploy.parameters.json",
          {"parameters": {"method": {"value": None}, "size": {"value": None}}})
    assert findings(path, "ARM001", "ARM002") == []


def test_each_instance_of_a_nested_deployment_in_a_copy_loop_gets_its_own_values(tmp_path):
    """What a deployment passes is read from its declaration once, and evaluated in each
    instance's own scope (its copy index), under each parameter set."""
    inner = template({"method": METHOD, "size": {"type": "int", "minValue": 1}})
    deployment = nested(inner, {"method": {"value": "[parameters('methods')[copyIndex()]]"},
                                "size": {"value": "[copyIndex()]"}})
    deployment["copy"] = {"name": "modules", "count": 3}
    methods = {"type": "array", "defaultValue": ["Static", "Basic", "Dynamic"]}
    path = write(tmp_path / "azuredeploy.json", template({"methods": methods}, resources=[deployment]))
    (low,) = findings(path, "ARM002")  # only the instance at index 0 passes size 0
    assert "parameter 'size' is 0 (passed by the enclosing deployment), below its minValue 1" in low.message
    (bad,) = findings(path, "ARM001")
    assert "'Basic' (passed by the enclosing deployment)" in bad.message
    write(tmp_path / "azuredeploy.parameters.json", {"parameters": {"methods": {"value": ["Static", "Odd", "Other"]}}})
    assert sorted(f.message.split(" (")[0] for f in findings(path, "ARM001")) == [
        "parameter 'method' is 'Odd'", "parameter 'method' is 'Other'"]


# ------------------------------------------------------------- Azure Developer CLI substitution

def test_azd_substitutions_in_a_parameter_file_are_unknown(tmp_path):
    location = {"type": "string", "allowedValues": ["eastus2", "uksouth"]}
    name = {"type": "string", "maxLength": 8}
    regions = {"type": "array", "defaultValue": [], "maxLength": 1}
    path = write(tmp_path / "main.json", template({"location": location, "sku": METHOD, "name": name,
                                                   "regions": regions}))
    write(tmp_path / "main.parameters.json", {"parameters": {
        "location": {"value": "${AZURE_LOCATION}"}, "sku": {"value": "${HOSTING_PLAN_SKU=B3}"},
        "name": {"value": "${AZURE_ENV_NAME}-workspace"}, "regions": {"value": ["${REGION_A}", "${REGION_B}"]}}})
    assert findings(path, "ARM001", "ARM002") == []
    write(tmp_path / "main.parameters.json", {"parameters": {"location": {"value": "westus"}}})
    (f,) = findings(path, "ARM001")  # the file is still read
    assert "'westus' (from " in f.message and "main.parameters.json)" in f.message


def test_azd_substitution_explains_where_the_value_comes_from(tmp_path):
    from preflight.arm.parameters import read_parameter_file
    pf = read_parameter_file({"parameters": {"kv": {"value": "${KEYVAULT_NAME}"}}}, "main.parameters.json", "/x")
    value = pf.values["kv"].value
    assert "environment variable ${KEYVAULT_NAME} by the Azure Developer CLI" in value.reason
    both = read_parameter_file({"parameters": {"p": {"value": [{"id": "${A}", "n": 1}, "${A=x}"]}}}, "p.json", "/x")
    entry, other = both.values["p"].value  # the array's length and the object's other keys stay known
    assert entry["n"] == 1 and isinstance(entry["id"], Unknown) and isinstance(other, Unknown)
    assert entry["id"].key != other.key  # `${A=x}` is not `${A}` when A is not set
    literal = read_parameter_file({"parameters": {"kv": {"value": "kv-$5{x}"}}}, "p.json", "/x")
    assert literal.values["kv"].value == "kv-$5{x}"  # no substitution syntax: a value like any other


# ------------------------------------------------------------ conditions of enclosing deployments

BAD_INNER = template({"method": dict(METHOD, defaultValue="Basic"), "size": {"type": "int", "defaultValue": 0,
                                                                             "minValue": 1}})


def test_a_nested_deployment_that_is_not_deployed_has_no_parameter_findings(tmp_path):
    main = template({"enabled": {"type": "bool", "defaultValue": False}},
                    [nested(BAD_INNER, {}, condition="[parameters('enabled')]")])
    path = write(tmp_path / "main.json", main)
    assert findings(path, "ARM001", "ARM002") == []
    # deployed (here by --param): the values are checked, as errors
    found = findings(path, "ARM001", "ARM002", params={"enabled": True})
    assert sorted((f.rule, f.severity.name) for f in found) == [("ARM001", "ERROR"), ("ARM002", "ERROR")]


def test_the_condition_of_an_outer_deployment_applies_to_deployments_inside_it(tmp_path):
    middle = template(resources=[nested(BAD_INNER, {}, name="inner")])
    path = write(tmp_path / "main.json", template(resources=[nested(middle, {}, condition=False, name="outer")]))
    assert findings(path, "ARM001", "ARM002") == []
    path = write(tmp_path / "main.json", template(resources=[nested(middle, {}, condition=True, name="outer")]))
    assert len(findings(path, "ARM001", "ARM002")) == 2


def test_findings_under_an_unknown_condition_hold_only_if_deployed(tmp_path):
    main = template(resources=[nested(BAD_INNER, {}, condition="[equals(resourceGroup().location, 'westus')]")])
    found = findings(write(tmp_path / "main.json", main), "ARM001", "ARM002")
    assert sorted(f.rule for f in found) == ["ARM001", "ARM002"]
    for f in found:
        assert f.severity.name == "WARNING"
        assert "if the nested deployment is deployed: the condition" in f.message and "cannot be evaluated" in f.message


def test_arm001_names_an_empty_allowed_values_list(tmp_path):
    path = write(tmp_path / "main.json",
                 template({"sku": {"type": "string", "defaultValue": "a", "allowedValues": []}}))
    (f,) = findings(path, "ARM001")
    assert f.message.endswith(", not one of an empty allowedValues list")


# ------------------------------------------------------------------------ user-defined types

def kv_template(parameters, definitions, policies="[coalesce(parameters('policies'), createArray())]"):
    vault = {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv-typed",
             "location": "westeurope", "properties": {"tenantId": "[subscription().tenantId]",
                                                     "sku": {"family": "A", "name": "standard"},
                                                     "accessPolicies": policies}}
    return template(parameters, {"vault": vault}, languageVersion="2.0", definitions=definitions)


ACCESS = ("KV001", "KV002", "KV003", "KV004", "KV005")


def test_a_parameter_of_a_nullable_defined_type_without_a_value_is_null(tmp_path):
    definitions = {"policyList": {"$ref": "#/definitions/_policies", "nullable": True},
                   "_policies": {"type": "array", "items": {"type": "object"}}}
    path = write(tmp_path / "main.json", kv_template({"policies": {"$ref": "#/definitions/policyList"}}, definitions))
    (f,) = findings(path, *ACCESS)
    assert f.rule == "KV001" and f.severity.name == "ERROR"
    # nullable on the parameter itself, over a type that is not
    path = write(tmp_path / "main.json", kv_template(
        {"policies": {"$ref": "#/definitions/_policies", "nullable": True}}, definitions))
    assert [f.rule for f in findings(path, *ACCESS)] == ["KV001"]
    # not nullable anywhere and no value: not known (the deployer must pass it)
    path = write(tmp_path / "main.json", kv_template({"policies": {"$ref": "#/definitions/_policies"}}, definitions))
    assert [f.rule for f in findings(path, *ACCESS)] == ["KV004"]


def test_defined_types_give_parameters_their_keywords(tmp_path):
    from preflight.arm.template import Template
    data = kv_template({"sku": {"$ref": "#/definitions/sku", "defaultValue": "gold"},
                        "loop": {"$ref": "#/definitions/a"}},
                       {"sku": {"$ref": "#/definitions/skuName", "maxLength": 9},
                        "skuName": {"type": "string", "allowedValues": ["standard", "premium"], "maxLength": 20},
                        "a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}})
    t = Template.from_json(data)
    sku = t.parameters["sku"]
    assert (sku.type, sku.allowed, sku.max_length, sku.default) == ("string", ["standard", "premium"], 9, "gold")
    assert t.parameters["loop"].type is None  # a cycle of references: no type, no hang
    (f,) = findings(write(tmp_path / "main.json", data), "ARM001")
    assert "'gold' (its defaultValue)" in f.message


# --------------------------------------------------------------- a vault behind a default-off switch

def switched_vault(policies, switch_default=False, parameters=None):
    vault = {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv",
             "location": "westeurope", "condition": "[parameters('deployVault')]",
             "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
                            "accessPolicies": policies}}
    return template({"deployVault": {"type": "bool", "defaultValue": switch_default}, **(parameters or {})}, [vault])


def test_a_vault_switched_off_by_default_is_reported_for_the_run_that_switches_it_on(tmp_path):
    path = write(tmp_path / "main.json", switched_vault([]))
    (f,) = findings(path, *ACCESS)
    assert (f.rule, f.severity.name) == ("KV004", "INFO")
    assert f.message == ("Key Vault 'kv' is deployed only when `deployVault` is true (default false), then a "
                         "redeploy wipes its access policies (KV001)")
    assert f.pointer == "/resources/0/properties/accessPolicies" and f.data["switches"] == ["deployVault"]
    # switched on: the wipe itself (a warning: on the runs where the switch is on)
    assert [(f.rule, f.severity.name) for f in findings(path, *ACCESS, params={"deployVault": True})] == \
        [("KV001", "WARNING")]


def test_an_existing_vault_behind_a_default_off_switch_is_never_evaluated_switched_on(tmp_path):
    from preflight.arm.vaults import switched_off_vaults, vault_deployments
    from preflight.documents import load_document
    from preflight.engine import DocumentStore, ScanContext

    body = switched_vault([])
    body["resources"][0]["existing"] = True
    path = write(tmp_path / "main.json", body)
    doc = load_document(str(path), path.read_bytes())
    ctx = ScanContext(Options(), DocumentStore(Options()))
    (vault,) = vault_deployments(doc, ctx)
    assert vault.branch == "not-deployed" and vault.resource.decl.existing
    assert switched_off_vaults(doc, ctx) == []
    assert "arm.switched-on" not in doc.cache  # the template was not evaluated again
    assert findings(path, *ACCESS) == []


def test_a_switched_off_vault_that_is_safe_when_on_or_off_by_choice_gets_nothing(tmp_path):
    grant = [{"tenantId": "[subscription().tenantId]", "objectId": "00000000-0000-0000-0000-000000000001",
              "permissions": {"secrets": ["get"]}}]
    assert findings(write(tmp_path / "a" / "main.json", switched_vault(grant)), "KV001", "KV002", "KV004") == []
    # a parameter file that says false is the deployer's choice, not a default
    path = write(tmp_path / "b" / "azuredeploy.json", switched_vault([]))
    write(tmp_path / "b" / "azuredeploy.parameters.json", {"parameters": {"deployVault": {"value": False}}})
    assert findings(path, *ACCESS) == []
    # the policies come from a parameter that switches them too: evaluated with the switch on
    path = write(tmp_path / "c" / "main.json", switched_vault(
        "[if(parameters('deployVault'), parameters('grants'), createArray())]",
        parameters={"grants": {"type": "array", "defaultValue": grant}}))
    assert findings(path, *ACCESS) == []
