"""The template model and what a template deploys: resources as array or symbolic object,
nested children, copies, conditions, nested deployments (inner, outer, three levels, linked
files), and parameter files paired with templates."""
from __future__ import annotations

import json
from pathlib import Path

from preflight.arm.deployments import deployed_resources, evaluations, template_of
from preflight.arm.evaluator import evaluate, standalone_scope
from preflight.arm.expressions import compile_string
from preflight.arm.parameters import paired_files
from preflight.arm import template as template_model
from preflight.arm.template import ABSENT, ResourceDecl, Template
from preflight.arm.values import PARAMETER, SECRET, Unknown
from preflight.documents import load_document
from preflight.contract import Options
from preflight.engine import DocumentStore, ScanContext

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PSCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "arm"


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def template(path: Path, resources, parameters=None, variables=None, **extra) -> Path:
    body = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": parameters or {},
            "variables": variables or {}, "resources": resources}
    body.update(extra)
    return write(path, body)


def load(path: Path, **options):
    opts = Options(**options)
    ctx = ScanContext(opts, DocumentStore(opts))
    doc = load_document(str(path), path.read_bytes())
    return doc, ctx


def resources(path: Path, rtype=None, **options):
    doc, ctx = load(path, **options)
    return deployed_resources(doc, ctx, rtype)


# --------------------------------------------------------------------------- the model

def test_resources_as_array_or_symbolic_object_with_existing():
    t = Template.from_json({"languageVersion": "2.0", "resources": {
        "kv": {"type": "Microsoft.KeyVault/vaults", "existing": True, "name": "a"},
        "st": {"type": "Microsoft.Storage/storageAccounts", "name": "b", "apiVersion": "2023-01-01"}}})
    assert t.symbolic
    assert [(r.symbolic_name, r.existing, r.pointer) for r in t.resources] == \
        [("kv", True, "/resources/kv"), ("st", False, "/resources/st")]
    assert t.resources[1].api_version == "2023-01-01" and t.resources[0].api_version is ABSENT
    classic = Template.from_json({"resources": [{"type": "Microsoft.KeyVault/vaults", "name": "a"}]})
    assert not classic.symbolic and classic.resources[0].pointer == "/resources/0"


def test_keywords_are_matched_case_insensitively():
    t = Template.from_json({"Parameters": {"P": {"Type": "String", "DefaultValue": "x"}},
                            "RESOURCES": [{"Type": "Microsoft.KeyVault/vaults", "Name": "[parameters('p')]",
                                           "Condition": True, "Properties": {"a": 1}}]})
    r = t.resources[0]
    assert r.type == "Microsoft.KeyVault/vaults" and r.condition is True and r.properties == {"a": 1}
    assert r.pointer == "/RESOURCES/0"
    assert t.parameters["p"].type == "string" and t.parameters["p"].default == "x"


def _model(t: Template) -> dict:
    """Everything from_json reads, as plain data (nested templates included)."""
    def copy(c):
        return None if c is None else (c.name, c.count, c.input, c.mode, c.pointer)

    def resource(r: ResourceDecl):
        d = r.deployment
        return (r.type, r.name, r.api_version, r.condition, copy(r.copy), r.properties, r.existing, r.pointer,
                r.symbolic_name, r.parent.pointer if r.parent else None, r.template is t,
                [resource(c) for c in r.children],
                d and (d.scope, d.template and _model(d.template), d.relative_path, d.link, d.parameters,
                       d.parameters_link, d.subscription_id, d.resource_group, d.pointer))
    return {"lv": t.language_version, "pointer": t.pointer,
            "parameters": {k: vars(v) for k, v in t.parameters.items()},
            "variables": {k: (v.name, v.value, copy(v.copy), v.pointer) for k, v in t.variables.items()},
            "functions": {k: vars(v) for k, v in t.functions.items()},
            "resources": [resource(r) for r in t.resources]}


KEYWORDS = {
    "languageVersion": "2.0",
    "parameters": {"p": {"type": "String", "defaultValue": "x", "allowedValues": ["x"], "minLength": 1,
                         "maxLength": 3, "metadata": {}},
                   "n": {"type": "int", "minValue": 1, "maxValue": 2, "nullable": True},
                   "mixed": {"type": "string", "DefaultValue": "lower wins?", "defaultValue": "exact"}},
    "variables": {"v": "[parameters('p')]", "copy": [{"name": "list", "count": 2, "input": "[copyIndex('list')]"}]},
    "resources": {
        "kv": {"type": "Microsoft.KeyVault/vaults", "name": "a", "apiVersion": "2023-07-01", "existing": True,
               "condition": "[true()]", "copy": {"name": "c", "count": 2, "mode": "serial", "batchSize": 1},
               "properties": {"tenantId": "t"}, "location": "x",
               "resources": [{"type": "accessPolicies", "name": "add", "properties": {}}]},
        "dep": {"type": "Microsoft.Resources/deployments", "name": "d", "subscriptionId": "s",
                "resourceGroup": "g",
                "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                               "parameters": {"a": {"value": 1}},
                               "template": {"parameters": {"a": {"type": "int"}}, "resources": [
                                   {"type": "Microsoft.Storage/storageAccounts", "name": "s"}]}}},
        "linked": {"type": "Microsoft.Resources/deployments", "name": "l",
                   "properties": {"templateLink": {"relativePath": "x.json"}, "parametersLink": {"uri": "u"}}},
        "Other": {"Type": "Microsoft.Web/sites", "NAME": "w", "ApiVersion": "2022-01-01",
                  "Properties": {"a": 1}, "Existing": True},
        "import": {"name": "no type"}}}


def test_keywords_written_as_templates_write_them_read_as_in_any_casing(monkeypatch):
    # Objects whose keys are all plain are read by exact key: the model must be the one the
    # case-insensitive reading (taken for any other object) makes of them.
    resources = KEYWORDS["resources"]
    assert KEYWORDS.keys() <= template_model._TEMPLATE_KEYS and resources["kv"].keys() <= template_model._RESOURCE_KEYS
    assert resources["dep"]["properties"].keys() <= template_model._DEPLOYMENT_KEYS
    assert resources["kv"]["copy"].keys() <= template_model._COPY_KEYS
    assert KEYWORDS["parameters"]["p"].keys() <= template_model._PARAMETER_KEYS
    plain = Template.from_json(KEYWORDS)
    for keys in ("_TEMPLATE_KEYS", "_PARAMETER_KEYS", "_RESOURCE_KEYS", "_DEPLOYMENT_KEYS", "_COPY_KEYS"):
        monkeypatch.setattr(template_model, keys, frozenset())
    assert _model(plain) == _model(Template.from_json(KEYWORDS))
    kv, dep, linked, other = plain.resources
    assert (kv.existing, kv.copy.mode, kv.children[0].type, other.existing, other.api_version) == \
        (True, "serial", "accessPolicies", True, "2022-01-01")
    assert dep.deployment.subscription_id == "s" and dep.deployment.template.parameters["a"].type == "int"
    assert linked.deployment.relative_path == "x.json"
    assert linked.deployment.pointer == "/resources/linked/properties/templateLink"
    assert plain.parameters["mixed"].default == "exact" and plain.parameters["n"].nullable
    assert plain.variables["list"].copy.count == 2


def test_all_resources_lists_each_resource_read_before_its_children():
    child = {"type": "c", "name": "c", "resources": [{"type": "g", "name": "g"}, 7, {"name": "no type"}]}
    t = Template.from_json({"resources": [
        {"type": "A", "name": "a", "resources": [child, {"type": "d", "name": "d"}]},
        "not a resource",
        {"type": "Microsoft.Resources/deployments", "name": "n",
         "properties": {"template": {"resources": [{"type": "Inner", "name": "i"}]}}},
        {"type": "B", "name": "b"}]})
    expected = ["/resources/0", "/resources/0/resources/0", "/resources/0/resources/0/resources/0",
                "/resources/0/resources/1", "/resources/2", "/resources/3"]
    listed = t.all_resources()
    assert [r.pointer for r in listed] == expected
    listed.clear()  # a list of the caller's own
    assert [r.pointer for r in t.all_resources()] == expected
    built = Template(resources=t.resources)  # not read from JSON: walked
    assert built.all_resources() == t.all_resources()
    (inner,) = t.resources[1].deployment.template.all_resources()
    assert inner.pointer == "/resources/2/properties/template/resources/0"


def test_nested_child_type_and_name_are_composed(tmp_path):
    path = template(tmp_path / "t.json", [{
        "type": "Microsoft.KeyVault/vaults", "name": "kv1", "apiVersion": "2023-07-01", "properties": {},
        "resources": [{"type": "accessPolicies", "name": "add", "apiVersion": "2023-07-01",
                       "properties": {"accessPolicies": []}}]}])
    child = resources(path, "Microsoft.KeyVault/vaults/accessPolicies")
    assert len(child) == 1
    assert child[0].name == "kv1/add" and child[0].pointer == "/resources/0/resources/0"
    assert child[0].parent.name == "kv1"


def test_types_match_case_insensitively(tmp_path):
    path = template(tmp_path / "t.json", [{"type": "microsoft.keyvault/VAULTS", "name": "kv", "properties": {}}])
    assert len(resources(path, "Microsoft.KeyVault/vaults")) == 1


def test_a_front_end_can_build_the_model_with_trees():
    """What a Bicep front end does: dataclasses and expression trees, no `[...]` strings."""
    t = Template.from_json({"parameters": {"name": {"type": "string", "defaultValue": "kv-bicep"}}})
    vault = ResourceDecl(type="Microsoft.KeyVault/vaults", name=compile_string("[parameters('name')]"),
                         api_version="2023-07-01", properties={"accessPolicies": compile_string("[createArray()]")},
                         pointer="/resources/0", template=t)
    t.resources.append(vault)
    scope = standalone_scope(t)
    assert evaluate(vault.name, scope) == "kv-bicep"
    assert evaluate(vault.body["properties"], scope) == {"accessPolicies": []}


# ---------------------------------------------------------------------- copy and condition

def test_resource_copy_instances_and_count_zero(tmp_path):
    path = template(tmp_path / "t.json", [{
        "type": "Microsoft.KeyVault/vaults", "name": "[concat('kv-', copyIndex(1))]", "properties": {},
        "copy": {"name": "vaults", "count": "[parameters('n')]"}}],
        parameters={"n": {"type": "int", "defaultValue": 3}})
    assert [r.name for r in resources(path)] == ["kv-1", "kv-2", "kv-3"]
    none = resources(path, params={"n": 0})
    assert len(none) == 1 and none[0].status.state == "not-deployed" and "copy count" in none[0].status.reason


def test_unknown_copy_count_gives_one_instance_with_unknown_names(tmp_path):
    path = template(tmp_path / "t.json", [{
        "type": "Microsoft.KeyVault/vaults", "name": "[concat('kv-', copyIndex())]", "properties": {},
        "copy": {"name": "vaults", "count": "[length(parameters('names'))]"}}],
        parameters={"names": {"type": "array"}})
    (only,) = resources(path)
    assert isinstance(only.name, Unknown)
    assert only.status.state == "unknown" and "copy count" in only.status.reason


def test_condition_states(tmp_path):
    def status(condition, params=None, parameters=None):
        path = template(tmp_path / "c.json", [{"type": "Microsoft.KeyVault/vaults", "name": "kv",
                                               "condition": condition, "properties": {}}],
                        parameters=parameters or {"create": {"type": "bool", "defaultValue": True},
                                                  "missing": {"type": "bool"}})
        return resources(path, params=params or {})[0].status

    assert status(True).state == "deployed"
    assert status("[equals(1, 1)]").state == "deployed"
    assert status("[not(true())]").state == "not-deployed"
    guarded = status("[parameters('create')]")
    assert guarded.state == "guarded"
    assert [(u.name, u.source, u.value) for u in guarded.guards[0].uses] == [("create", "default", True)]
    assert status("[parameters('create')]", params={"create": False}).state == "not-deployed"
    unknown = status("[parameters('missing')]")
    assert unknown.state == "unknown" and unknown.unknown.missing_parameters == ["missing"]


def test_existing_resources_are_not_deployed(tmp_path):
    path = write(tmp_path / "t.json", {"$schema": SCHEMA, "languageVersion": "2.0", "contentVersion": "1.0.0.0",
                                       "resources": {"kv": {"type": "Microsoft.KeyVault/vaults", "existing": True,
                                                            "name": "kv"}}})
    (kv,) = resources(path)
    assert kv.deployed is False and "existing" in kv.status.reason


# --------------------------------------------------------------------- nested deployments

def nested(name, scope, template_body, parameters=None, **extra):
    props = {"mode": "Incremental", "template": template_body}
    if scope:
        props["expressionEvaluationOptions"] = {"scope": scope}
    if parameters is not None:
        props["parameters"] = parameters
    out = {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": name, "properties": props}
    out.update(extra)
    return out


def test_outer_scope_uses_the_parents_parameters(tmp_path):
    inner_template = {"parameters": {"p": {"type": "string", "defaultValue": "inner"}},
                      "resources": [{"type": "Microsoft.KeyVault/vaults", "name": "[parameters('p')]"}]}
    path = template(tmp_path / "t.json", [nested("n", None, inner_template)],
                    parameters={"p": {"type": "string", "defaultValue": "outer"}})
    (kv,) = resources(path, "Microsoft.KeyVault/vaults")
    assert kv.name == "outer"


def test_inner_scope_uses_the_values_the_parent_passes(tmp_path):
    inner_template = {"parameters": {"p": {"type": "string", "defaultValue": "inner-default"},
                                     "q": {"type": "string", "defaultValue": "q-default"}},
                      "variables": {"v": "[concat(parameters('p'), '-', parameters('q'))]"},
                      "resources": [{"type": "Microsoft.KeyVault/vaults", "name": "[variables('v')]"}]}
    path = template(tmp_path / "t.json", [nested("n", "inner", inner_template,
                                                 {"p": {"value": "[parameters('p')]"}})],
                    parameters={"p": {"type": "string", "defaultValue": "outer"}})
    (kv,) = resources(path, "Microsoft.KeyVault/vaults")
    assert kv.name == "outer-q-default"
    assert [c.name for c in kv.chain] == ["n"]


def test_inner_parameter_without_value_or_default_is_unknown(tmp_path):
    inner_template = {"parameters": {"p": {"type": "string"}},
                      "resources": [{"type": "Microsoft.KeyVault/vaults", "name": "[parameters('p')]"}]}
    path = template(tmp_path / "t.json", [nested("n", "inner", inner_template, {})])
    (kv,) = resources(path, "Microsoft.KeyVault/vaults")
    assert isinstance(kv.name, Unknown) and "does not pass" in kv.name.reason


def test_nested_deployment_condition_and_target_carry_to_its_resources(tmp_path):
    inner_template = {"resources": [{"type": "Microsoft.KeyVault/vaults", "name": "kv"}]}
    path = template(tmp_path / "t.json", [nested("n", "inner", inner_template, {},
                                                 condition="[parameters('deploy')]",
                                                 resourceGroup="[parameters('rg')]", subscriptionId="sub-2")],
                    parameters={"deploy": {"type": "bool", "defaultValue": False},
                                "rg": {"type": "string", "defaultValue": "rg-shared"}})
    (kv,) = resources(path, "Microsoft.KeyVault/vaults")
    assert kv.status.state == "not-deployed" and "enclosing deployment" in kv.status.reason
    assert kv.target == ("sub-2", "rg-shared")
    (kv,) = resources(path, "Microsoft.KeyVault/vaults", params={"deploy": True})
    assert kv.status.state == "guarded"


def test_deployment_name_inside_a_nested_deployment_is_its_own_evaluated_name(tmp_path):
    inner_template = {"resources": [{"type": "Microsoft.KeyVault/vaults", "name": "[concat(deployment().name, '-kv')]",
                                     "condition": "[not(equals(deployment().name, 'other'))]"}]}
    deployment = nested("[concat('dep-', parameters('env'), '-', copyIndex())]", "inner", inner_template, {},
                        copy={"name": "each", "count": 2})
    path = template(tmp_path / "t.json", [deployment], parameters={"env": {"type": "string", "defaultValue": "prod"}})
    vaults = resources(path, "Microsoft.KeyVault/vaults")
    assert [kv.name for kv in vaults] == ["dep-prod-0-kv", "dep-prod-1-kv"]
    # The name is the deployment's own, whichever expression reads it first: the parameters
    # it reads are not the condition's.
    assert [kv.status.state for kv in resources(path, "Microsoft.KeyVault/vaults")] == ["deployed", "deployed"]
    assert [kv.chain[0].name for kv in vaults] == ["dep-prod-0", "dep-prod-1"]


def test_three_levels_of_inner_nesting():
    doc, ctx = load(FIXTURES / "nested-three-levels" / "azuredeploy.json")
    (kv,) = deployed_resources(doc, ctx, "Microsoft.KeyVault/vaults")
    assert kv.name == "kv-deep" and len(kv.chain) == 3
    assert kv.get("properties/accessPolicies") == []
    assert kv.pointer_of("properties/accessPolicies").endswith("/resources/0/properties/accessPolicies")


def test_relative_path_links_resolve_to_local_files(tmp_path):
    doc, ctx = load(FIXTURES / "linked" / "main.json")
    (kv,) = deployed_resources(doc, ctx, "Microsoft.KeyVault/vaults")
    assert kv.name == "kv-linked" and not kv.local
    assert kv.anchor == "/resources/0"
    assert kv.document.abspath.endswith("modules/vault.json")
    missing = template(tmp_path / "main.json", [{"type": "Microsoft.Resources/deployments", "name": "x",
                                                 "properties": {"templateLink": {"relativePath": "nope.json"}}}])
    assert resources(missing, "Microsoft.KeyVault/vaults") == []


def test_link_cycles_stop(tmp_path):
    link = {"type": "Microsoft.Resources/deployments", "name": "self",
            "properties": {"templateLink": {"relativePath": "b.json"}}}
    template(tmp_path / "a.json", [link, {"type": "Microsoft.KeyVault/vaults", "name": "kv"}])
    template(tmp_path / "b.json", [dict(link, properties={"templateLink": {"relativePath": "a.json"}})])
    kvs = resources(tmp_path / "a.json", "Microsoft.KeyVault/vaults")
    assert [r.name for r in kvs] == ["kv"]


def test_each_deployment_of_a_linked_file_passes_its_own_parameters_in_every_instance(tmp_path):
    # Two deployments of one file, one in a copy loop, under two parameter sets: each instance
    # gets the values its own parameters object gives (names matched case-insensitively), in
    # its own scope, and a Key Vault reference stays a secret.
    template(tmp_path / "vault.json", [{"type": "Microsoft.KeyVault/vaults", "name": "[parameters('n')]",
                                        "properties": {"tenantId": "[parameters('tenant')]"}}],
             parameters={"n": {"type": "string"}, "tenant": {"type": "string", "defaultValue": "none"}})
    path = template(tmp_path / "main.json", [
        {"type": "Microsoft.Resources/deployments", "name": "loop", "copy": {"name": "each", "count": 2},
         "properties": {"templateLink": {"relativePath": "vault.json"}, "parameters": {
             "N": {"value": "[concat(parameters('prefix'), '-', copyIndex())]"},
             "tenant": {"reference": {"keyVault": {"id": "/subscriptions/x"}, "secretName": "s"}}}}},
        {"type": "Microsoft.Resources/deployments", "name": "one",
         "properties": {"templateLink": {"relativePath": "vault.json"}, "parameters": {
             "n": {"value": "[concat(parameters('prefix'), '-one')]"}}}}],
        parameters={"prefix": {"type": "string", "defaultValue": "kv"}})
    write(tmp_path / "main.parameters.json", {"$schema": PSCHEMA, "contentVersion": "1.0.0.0",
                                              "parameters": {"prefix": {"value": "prod"}}})
    vaults = resources(path, "Microsoft.KeyVault/vaults")
    assert [v.name for v in vaults] == ["kv-0", "kv-1", "kv-one", "prod-0", "prod-1", "prod-one"]
    tenants = [v.get("properties/tenantId") for v in vaults]
    assert [isinstance(t, Unknown) and {k for k, _ in t.needs} == {SECRET} for t in tenants] == \
        [True, True, False, True, True, False]
    assert tenants[2] == tenants[5] == "none"


def test_property_lookup_through_property_copy_and_expressions(tmp_path):
    path = template(tmp_path / "t.json", [{
        "type": "Microsoft.KeyVault/vaults", "name": "kv",
        "properties": {"copy": [{"name": "accessPolicies", "count": 2,
                                 "input": {"objectId": "[concat('id-', copyIndex('accessPolicies'))]"}}],
                       "sku": "[variables('sku')]"}}], variables={"sku": {"name": "standard", "family": "A"}})
    (kv,) = resources(path)
    assert kv.get("properties/accessPolicies") == [{"objectId": "id-0"}, {"objectId": "id-1"}]
    assert kv.pointer_of("properties/accessPolicies") == "/resources/0/properties/copy/0"
    assert kv.get("properties/sku/name") == "standard"
    assert kv.pointer_of("properties/sku/name") == "/resources/0/properties/sku"
    assert kv.get("properties/enableRbacAuthorization") is ABSENT


# ----------------------------------------------------------------------- parameter files

def test_pairing_by_naming_convention(tmp_path):
    for name in ("azuredeploy.json", "azuredeploy.parameters.json", "azuredeploy.parameters.prod.json",
                 "other.parameters.json", "template.json", "parameters.json", "main.json", "main.parameters.json"):
        (tmp_path / name).write_text("{}")
    names = lambda paths: sorted(Path(p).name for p in paths)  # noqa: E731
    assert names(paired_files(str(tmp_path / "azuredeploy.json"))) == \
        ["azuredeploy.parameters.json", "azuredeploy.parameters.prod.json"]
    assert names(paired_files(str(tmp_path / "template.json"))) == ["parameters.json"]
    assert names(paired_files(str(tmp_path / "main.json"))) == ["main.parameters.json"]
    assert paired_files(str(tmp_path / "azuredeploy.parameters.json")) == []


def test_each_paired_file_is_evaluated_beside_the_defaults(tmp_path):
    path = template(tmp_path / "azuredeploy.json", [{"type": "Microsoft.KeyVault/vaults", "name": "[parameters('n')]"}],
                    parameters={"n": {"type": "string", "defaultValue": "kv-default"}})
    write(tmp_path / "azuredeploy.parameters.dev.json", {"$schema": PSCHEMA, "contentVersion": "1.0.0.0",
                                                          "parameters": {"n": {"value": "kv-dev"}}})
    write(tmp_path / "azuredeploy.parameters.prod.json", {"$schema": PSCHEMA, "contentVersion": "1.0.0.0",
                                                           "parameters": {"n": {"value": "kv-prod"}}})
    doc, ctx = load(path)
    got = [(ev.label and Path(ev.label).name, ev.of_type("Microsoft.KeyVault/vaults")[0].name)
           for ev in evaluations(doc, ctx)]
    assert got == [(None, "kv-default"), ("azuredeploy.parameters.dev.json", "kv-dev"),
                   ("azuredeploy.parameters.prod.json", "kv-prod")]


def test_precedence_cli_over_file_over_default_and_secrets(tmp_path):
    path = template(tmp_path / "azuredeploy.json", [{"type": "Microsoft.KeyVault/vaults", "name": "[parameters('n')]",
                                                     "properties": {"tenantId": "[parameters('secret')]"}}],
                    parameters={"n": {"type": "string", "defaultValue": "kv-default"}, "secret": {"type": "string"}})
    write(tmp_path / "azuredeploy.parameters.json", {"$schema": PSCHEMA, "contentVersion": "1.0.0.0", "parameters": {
        "n": {"value": "kv-file"},
        "secret": {"reference": {"keyVault": {"id": "/subscriptions/x"}, "secretName": "s"}}}})
    (default, from_file) = resources(path, "Microsoft.KeyVault/vaults")
    assert default.name == "kv-default" and from_file.name == "kv-file"
    secret = from_file.get("properties/tenantId")
    assert isinstance(secret, Unknown) and {k for k, _ in secret.needs} == {SECRET}
    assert {k for k, _ in default.get("properties/tenantId").needs} == {PARAMETER}
    both = resources(path, "Microsoft.KeyVault/vaults", params={"n": "kv-cli"})
    assert [r.name for r in both] == ["kv-cli", "kv-cli"]


def test_explicit_parameter_files_replace_pairing_and_apply_where_names_match(tmp_path):
    path = template(tmp_path / "azuredeploy.json", [{"type": "Microsoft.KeyVault/vaults", "name": "[parameters('n')]"}],
                    parameters={"n": {"type": "string", "defaultValue": "kv-default"}})
    write(tmp_path / "azuredeploy.parameters.json", {"parameters": {"n": {"value": "kv-paired"}}})
    explicit = write(tmp_path / "ci" / "prod.json", {"n": {"value": "kv-explicit"}})  # a bare `az` parameters object
    other = write(tmp_path / "ci" / "other.json", {"parameters": {"unrelated": {"value": 1}}})
    got = resources(path, "Microsoft.KeyVault/vaults", parameter_files=(str(explicit), str(other)))
    assert [r.name for r in got] == ["kv-explicit"]
    assert got[0].parameter_file == str(explicit)


def test_quickstart_placeholders_are_not_values(tmp_path):
    path = template(tmp_path / "azuredeploy.json", [{"type": "Microsoft.KeyVault/vaults", "name": "[parameters('n')]"}],
                    parameters={"n": {"type": "string"}})
    write(tmp_path / "azuredeploy.parameters.json", {"parameters": {"n": {"value": "GEN-UNIQUE-8"}}})
    names = [r.name for r in resources(path, "Microsoft.KeyVault/vaults")]
    assert all(isinstance(n, Unknown) for n in names)
    assert "placeholder" in names[1].reason


def test_template_model_is_cached_per_document(tmp_path):
    path = template(tmp_path / "t.json", [])
    doc, ctx = load(path)
    assert template_of(doc) is template_of(doc)
    assert evaluations(doc, ctx) is evaluations(doc, ctx)


# ------------------------------------------------------------------------------ robustness

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_EXPRESSIONS = st.sampled_from([
    "[parameters('p')]", "[variables('v')]", "[copyIndex()]", "[reference('x').accessPolicies]", "[[literal]",
    "[if(parameters('p'), createArray(), json('null'))]", "[concat(parameters('p'), '/add')]", "[bad(",
    "[resourceId('Microsoft.KeyVault/vaults', parameters('p'))]", "[length(variables('v'))]", "[null()]",
    "Microsoft.KeyVault/vaults", "Microsoft.Resources/deployments", "Microsoft.KeyVault/vaults/accessPolicies",
    "inner", "outer", "recover", "add"])
_KEYS = st.sampled_from(["type", "name", "properties", "condition", "copy", "count", "input", "accessPolicies",
                         "enableRbacAuthorization", "createMode", "template", "resources", "parameters",
                         "expressionEvaluationOptions", "scope", "value", "existing", "sku", "tenantId",
                         "templateLink", "relativePath", "variables", "defaultValue", "languageVersion"])
_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 900), _EXPRESSIONS),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_KEYS, children, max_size=5)),
    max_leaves=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(resources=st.lists(st.dictionaries(_KEYS, _VALUES, max_size=7), max_size=4),
       variables=st.dictionaries(st.sampled_from(["v", "w", "copy"]), _VALUES, max_size=3),
       symbolic=st.booleans())
def test_any_template_structure_is_checked_without_internal_error(tmp_path, resources, variables, symbolic):
    from preflight.engine import scan
    for r in resources[:2]:
        r.setdefault("type", "Microsoft.KeyVault/vaults")
    body = {"$schema": SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"p": {"type": "string", "defaultValue": "[variables('v')]"},
                           "q": {"type": "string", "defaultValue": "[parameters('notDeclared')]"}},
            "variables": variables,
            "resources": {f"r{i}": r for i, r in enumerate(resources)} if symbolic else resources}
    if symbolic:
        body["languageVersion"] = "2.0"
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(body))
    result = scan([str(path)], Options(select={"KV", "ARM", "PF"}))
    assert [f.message for f in result.findings if f.rule == "PF003"] == []
    # the template was read and its rules ran: the fixed undeclared name is always reported
    assert result.checked == [str(path)]
    assert "/parameters/q/defaultValue" in {f.pointer for f in result.findings if f.rule == "ARM004"}


def test_declaration_pointers_escape_slash_and_tilde_in_names():
    """A parameter's or variable's pointer escapes `/` and `~` in its name (RFC 6901), as every
    other pointer does: findings on it are located at its key."""
    t = Template.from_json({"parameters": {"a/b": {"type": "string"}, "plain": {"type": "int"}},
                            "variables": {"c~d": 1, "e": 2}})
    assert [d.pointer for d in t.parameters.values()] == ["/parameters/a~1b", "/parameters/plain"]
    assert [d.pointer for d in t.variables.values()] == ["/variables/c~0d", "/variables/e"]
