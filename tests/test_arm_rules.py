"""ARM001-ARM006: template errors the evaluation finds before Azure does."""
from __future__ import annotations

import json

import pytest

from preflight.engine import Options, scan
from preflight.findings import ERROR

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def write(tmp_path, parameters=None, variables=None, resources=None, name="azuredeploy.json", **extra):
    body = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": parameters or {},
            "variables": variables or {}, "resources": resources or []}
    body.update(extra)
    path = tmp_path / name
    path.write_text(json.dumps(body, indent=2))
    return path


def findings(path, rule, **options):
    return [f for f in scan([str(path)], Options(**options)).findings if f.rule == rule]


SKU = {"type": "string", "defaultValue": "standard", "allowedValues": ["standard", "premium"]}


def test_arm001_value_outside_allowed_values_from_each_source(tmp_path):
    path = write(tmp_path, {"sku": dict(SKU, defaultValue="basic")})
    (f,) = findings(path, "ARM001")
    assert f.severity == ERROR and f.pointer == "/parameters/sku/defaultValue"
    assert "'basic' (its defaultValue)" in f.message and "standard, premium" in f.message
    path = write(tmp_path, {"sku": SKU})
    assert findings(path, "ARM001") == []
    (f,) = findings(path, "ARM001", params={"sku": "gold"})
    assert "'gold' (from --param)" in f.message and f.pointer == "/parameters/sku"
    (tmp_path / "azuredeploy.parameters.json").write_text(json.dumps({"parameters": {"sku": {"value": "gold"}}}))
    (f,) = findings(path, "ARM001")
    assert "from " in f.message and "azuredeploy.parameters.json" in f.message


def test_arm001_is_not_about_case_or_number_spelling(tmp_path):
    assert findings(write(tmp_path, {"sku": dict(SKU, defaultValue="Standard")}), "ARM001") == []
    zone = {"type": "string", "defaultValue": 1, "allowedValues": ["1", "2", "3"]}
    assert findings(write(tmp_path, {"zone": zone}), "ARM001") == []


def test_arm001_arrays_and_values_passed_to_nested_deployments(tmp_path):
    regions = {"type": "array", "defaultValue": ["westeurope", "mars"], "allowedValues": ["westeurope", "eastus"]}
    (f,) = findings(write(tmp_path, {"regions": regions}), "ARM001")
    assert "'mars'" in f.message
    inner = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": {"sku": SKU}, "resources": []}
    nested = {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "n",
              "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                             "parameters": {"sku": {"value": "gold"}}, "template": inner}}
    (f,) = findings(write(tmp_path, resources=[nested]), "ARM001")
    assert "passed by the enclosing deployment" in f.message
    assert f.pointer == "/resources/0/properties/template/parameters/sku"


def test_arm001_checks_each_element_of_an_array_whose_type_comes_from_a_resource(tmp_path):
    route = "resourceInput<'Microsoft.Cdn/profiles/afdEndpoints/routes@2025-04-15'>.properties.supportedProtocols"
    path = tmp_path / "main.bicep"
    path.write_text(f"@allowed(['Http', 'Https'])\nparam protocols {route} = ['Http', 'Https']\n"
                    "output p array = protocols\n")
    assert findings(path, "ARM001") == []
    (f,) = findings(path, "ARM001", params={"protocols": ["Https", "Ftp"]})
    assert "'Ftp'" in f.message and "Http, Https" in f.message


def test_arm002_pipeline_tokens_leave_the_length_unknown(tmp_path):
    name = {"type": "string", "maxLength": 10, "defaultValue": "#_namePrefix_#ab"}
    path = write(tmp_path, {"name": name})
    assert findings(path, "ARM002") == []
    (tmp_path / "azuredeploy.parameters.json").write_text(
        json.dumps({"parameters": {"name": {"value": "#_prefix_#-0123456789"}}}))
    assert findings(path, "ARM002") == []
    (tmp_path / "azuredeploy.parameters.json").write_text(json.dumps({"parameters": {"name": {"value": "x" * 16}}}))
    (f,) = findings(path, "ARM002")  # without a token, the same bound is checked
    assert "(length 16)" in f.message


def test_arm001_unknown_values_are_not_reported(tmp_path):
    path = write(tmp_path, {"sku": dict(SKU, defaultValue="[parameters('other')]"), "other": {"type": "string"}})
    assert findings(path, "ARM001") == []


@pytest.mark.parametrize("spec, bad", [
    ({"type": "int", "defaultValue": 0, "minValue": 1}, "below its minValue 1"),
    ({"type": "int", "defaultValue": 11, "maxValue": 10}, "above its maxValue 10"),
    ({"type": "string", "defaultValue": "ab", "minLength": 3}, "below its minLength 3"),
    ({"type": "array", "defaultValue": [1, 2], "maxLength": 1}, "above its maxLength 1"),
    ({"type": "int", "defaultValue": 5, "minValue": 1, "maxValue": 10}, None),
])
def test_arm002_bounds(tmp_path, spec, bad):
    found = findings(write(tmp_path, {"p": spec}), "ARM002")
    if bad is None:
        assert found == []
    else:
        (f,) = found
        assert bad in f.message


def test_arm003_parameter_file_sets_an_undeclared_parameter(tmp_path):
    path = write(tmp_path, {"vaultName": {"type": "string"}})
    (tmp_path / "azuredeploy.parameters.json").write_text(json.dumps(
        {"parameters": {"keyVaultName": {"value": "kv"}, "vaultName": {"value": "kv"}}}))
    (f,) = findings(path, "ARM003")
    assert "'keyVaultName'" in f.message and "azuredeploy.parameters.json" in f.message and f.pointer == "/parameters"



def test_arm003_an_azd_parameter_file_is_not_rejected_its_extra_values_are_unused(tmp_path):
    # `${NAME}` substitutions: the Azure Developer CLI deploys the file, and passes the template
    # only the parameters it declares; ARM never sees the others.
    path = write(tmp_path, {"environmentName": {"type": "string"}})
    (tmp_path / "azuredeploy.parameters.json").write_text(json.dumps({"parameters": {
        "environmentName": {"value": "${AZURE_ENV_NAME}"}, "keyVaultName": {"value": "kv"}}}))
    (f,) = findings(path, "ARM003")
    assert str(f.severity) == "warning" and "'keyVaultName'" in f.message
    assert "Azure Developer CLI passes only declared parameters" in f.message
    assert "rejects" not in f.message and f.data["deployedBy"] == "azd"
    # The same file without a substitution is deployed as it is: Azure rejects it.
    (tmp_path / "azuredeploy.parameters.json").write_text(json.dumps({"parameters": {
        "environmentName": {"value": "dev"}, "keyVaultName": {"value": "kv"}}}))
    (f,) = findings(path, "ARM003")
    assert f.severity == ERROR and "Azure rejects the deployment" in f.message

def test_arm004_undeclared_names_but_not_in_untaken_if_branches(tmp_path):
    path = write(tmp_path, {"a": {"type": "string", "defaultValue": "x"}},
                 {"v": "[concat(parameters('A'), parameters('b'), variables('nope'))]",
                  "lazy": "[if(equals(parameters('a'), 'x'), variables('v'), variables('missingButUntaken'))]"})
    (f,) = findings(path, "ARM004")
    assert f.pointer == "/variables/v"
    assert "parameter 'b' and variable 'nope' are not declared" in f.message


def test_arm004_scopes_of_nested_templates(tmp_path):
    outer_nested = {"type": "Microsoft.Resources/deployments", "name": "outer", "properties": {
        "template": {"resources": [{"type": "Microsoft.KeyVault/vaults", "name": "[parameters('top')]"}]}}}
    inner_nested = {"type": "Microsoft.Resources/deployments", "name": "inner", "properties": {
        "expressionEvaluationOptions": {"scope": "inner"}, "parameters": {"own": {"value": "[parameters('top')]"}},
        "template": {"parameters": {"own": {"type": "string"}},
                     "resources": [{"type": "Microsoft.KeyVault/vaults", "name": "[parameters('top')]"}]}}}
    path = write(tmp_path, {"top": {"type": "string", "defaultValue": "x"}}, resources=[outer_nested, inner_nested])
    (f,) = findings(path, "ARM004")
    assert f.pointer == "/resources/1/properties/template/resources/0/name"


def test_arm005_reference_in_variables_unless_symbolic(tmp_path):
    variables = {"policies": "[reference(resourceId('Microsoft.KeyVault/vaults', 'kv'), '2023-07-01').accessPolicies]",
                 "fine": "[resourceId('Microsoft.KeyVault/vaults', 'kv')]"}
    (f,) = findings(write(tmp_path, variables=variables), "ARM005")
    assert f.pointer == "/variables/policies" and "'policies'" in f.message
    symbolic = write(tmp_path, variables=variables, resources={}, languageVersion="2.0")
    assert findings(symbolic, "ARM005") == []


def test_arm006_variable_cycles(tmp_path):
    path = write(tmp_path, variables={"a": "[variables('b')]", "b": "[concat(variables('a'), '-x')]",
                                      "self": "[variables('self')]", "ok": "[variables('a')]"})
    found = findings(path, "ARM006")
    assert sorted(f.message for f in found) == ["variables refer to each other in a cycle: a -> b -> a",
                                                "variables refer to each other in a cycle: self -> self"]


def test_arm005_in_a_variable_copy_loop_points_at_its_input(tmp_path):
    copy = [{"name": "ids", "count": 2, "input": "[reference(resourceId('Microsoft.KeyVault/vaults', 'kv')).id]"}]
    (f,) = findings(write(tmp_path, variables={"copy": copy}), "ARM005")
    assert f.pointer == "/variables/copy/0/input" and "'ids'" in f.message


def test_arm006_sees_names_in_if_branches_and_copy_loops(tmp_path):
    copy = [{"name": "loop", "count": 1, "input": "[variables('branchy')]"}]
    path = write(tmp_path, variables={"branchy": "[if(true(), 'x', variables('loop'))]", "copy": copy})
    (f,) = findings(path, "ARM006")
    assert "branchy -> loop -> branchy" in f.message


# ------------------------------------------------------------------ the references rules read

def test_references_are_read_once_per_template_with_owners_and_pointers():
    from preflight.arm.references import Reference, nested_templates, references_of
    from preflight.arm.template import Template

    data = {"parameters": {"p": {"type": "string", "defaultValue": "[variables('v')]"}},
            "variables": {"v": "[if(parameters('p'), variables('w'), concat(parameters('q')))]",
                          "copy": [{"name": "c", "count": "[length(parameters('p'))]", "input": "x"}]},
            "resources": [{"type": "Microsoft.Resources/deployments", "name": "[ns.fn(parameters('p'))]",
                           "metadata": {"note": "[parameters('ignored')]"},
                           "properties": {"template": {"variables": {"inner": "[parameters('deep')]"}}}}],
            "outputs": {"o": {"type": "string", "value": "[reference('x').id]"}}}
    template = Template.from_json(data)
    found = references_of(template)
    assert references_of(template) is found  # kept on the template: every rule reads the same walk
    by_pointer = {e.pointer: e for e in found.expressions}
    assert set(by_pointer) == {"/parameters/p/defaultValue", "/variables/v", "/variables/copy/0/count",
                               "/resources/0/name", "/outputs/o/value"}
    v = by_pointer["/variables/v"]
    assert v.owner is template.variables["v"] and found.of(template.variables["v"]) == [v]
    assert v.references == (Reference("parameters", "p", False), Reference("variables", "w", True),
                            Reference("parameters", "q", True))
    assert v.direct_references == (Reference("parameters", "p", False),)
    assert set(v.possible_references()) >= {("parameters", "p"), ("variables", "w"), ("parameters", "q")}
    assert found.of(template.variables["c"]) == [by_pointer["/variables/copy/0/count"]]
    assert by_pointer["/resources/0/name"].calls == {"ns.fn", "parameters"}
    assert "reference" in by_pointer["/outputs/o/value"].calls and by_pointer["/outputs/o/value"].owner is None
    (_, (nested, outer)) = list(nested_templates(template))
    assert outer is template
    assert [e.references for e in references_of(nested).expressions] == [(Reference("parameters", "deep", False),)]


def test_a_tree_shared_by_templates_is_read_once():
    # A front end's module template, embedded by two callers: the same trees in both.
    from preflight.arm.expressions import Call, Literal
    from preflight.arm.references import Reference, references_of
    from preflight.arm.template import Template

    tree = Call("if", (Call("parameters", (Literal("flag"),)), Call("variables", (Literal("on"),)), Literal(1)))
    module = {"variables": {"a": tree, "b": Call("parameters", (Literal("name"),))}}
    first, second = (references_of(Template.from_json(module, None, pointer)) for pointer in ("/x", "/y"))
    assert [e.pointer for e in second.expressions] == ["/y/variables/a", "/y/variables/b"]
    assert [e.references for e in second.expressions] == [
        (Reference("parameters", "flag", False), Reference("variables", "on", True)),
        (Reference("parameters", "name", False),)]
    assert first.expressions[0]._read() is second.expressions[0]._read()
    assert first.expressions[0]._read().in_order() == (  # as a walk of the tree meets them
        Reference("parameters", "flag", False), Reference("variables", "on", False))
    other = references_of(Template.from_json({"variables": {"a": Call("parameters", (Literal("other"),))}}))
    assert other.expressions[0].references == (Reference("parameters", "other", False),)
