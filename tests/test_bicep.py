"""The Bicep front end: parsing, the mapping onto the template model, and the Key Vault rules
on Bicep files (fixtures in fixtures/bicep/, and small sources written inline)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from preflight.arm.deployments import deployed_resources
from preflight.arm.expressions import Node
from preflight.arm.values import ResourceRef, RuntimeValue, Unknown
from preflight.documents import Kind, load_document, sniff
from preflight.engine import Options, scan
from conftest import FIXTURES, REPO, scan_json

BICEP = FIXTURES / "bicep"
POLICY_RULES = {"KV001", "KV002", "KV003", "KV004", "KV005", "KV006"}


def findings(*paths, **options):
    # KV019 (the fixtures' 2023 Key Vault API versions retire in 2027) has its own tests
    # (test_keyvault_retiring.py); here it would add a finding to every fixture.
    options.setdefault("ignore", {"KV019"})
    return scan([str(p) for p in paths], Options(**options)).findings


def rules_of(found, only=POLICY_RULES):
    return sorted(f.rule for f in found if only is None or f.rule in only)


def load(tmp_path, source, name="main.bicep"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return load_document(str(path), path.read_bytes())


def line_of(path, needle):
    for i, line in enumerate(open(path, encoding="utf-8"), 1):
        if needle in line:
            return i, line.index(needle.strip()) + 1
    raise AssertionError(f"{needle!r} not in {path}")


# ----------------------------------------------------------------------- what the issue asks


def test_quickstart_empty_access_policies_is_kv001_at_the_bicep_line():
    path = BICEP / "quickstart" / "main.bicep"
    found = [f for f in findings(path) if f.rule in POLICY_RULES]
    assert rules_of(found) == ["KV001"]
    assert (found[0].line, found[0].column) == line_of(path, "accessPolicies: []")
    assert "'kv-demo-dev'" in found[0].message
    assert "workspace" in found[0].message  # the Azure ML workspace in the template uses the vault


def test_rbac_vault_has_no_finding():
    assert findings(BICEP / "rbac") == []


def test_existing_vault_with_an_add_child_has_no_finding():
    assert findings(BICEP / "existing-add") == []


def test_for_loop_over_a_parameter_defaulting_to_empty_is_kv001():
    path = BICEP / "for-empty" / "main.bicep"
    found = findings(path)
    assert rules_of(found) == ["KV001"]
    assert found[0].line == line_of(path, "accessPolicies: [for")[0]
    assert "copy loop with no elements" in found[0].message


def test_no_access_policies_is_kv002():
    assert rules_of(findings(BICEP / "missing")) == ["KV002"]


def test_literal_policy_is_kv003():
    found = findings(BICEP / "literal")
    assert rules_of(found) == ["KV003"]
    assert str(found[0].severity) == "warning"


def test_vault_behind_a_create_switch_is_no_error():
    # off by default: an info that names the switch and what it would do
    (note,) = findings(BICEP / "conditional")
    assert (note.rule, str(note.severity)) == ("KV004", "info") and "createKeyVault" in note.message
    # deployed when the switch is on: only a warning that names the switch
    found = findings(BICEP / "conditional", params={"createKeyVault": True})
    assert rules_of(found) == ["KV001"]
    assert str(found[0].severity) == "warning" and "createKeyVault" in found[0].message


# ------------------------------------------------------------------------------- modules


def test_module_finding_is_reported_in_the_module_file_naming_its_caller():
    path = BICEP / "module" / "main.bicep"
    module = BICEP / "module" / "modules" / "keyvault.bicep"
    found = [f for f in findings(path) if f.rule in POLICY_RULES]
    assert rules_of(found) == ["KV001"]  # the second call passes rbac: true
    assert found[0].path == str(module)
    assert found[0].line == line_of(module, "accessPolicies:")[0]
    assert found[0].data["callers"] == [f"{path}:{line_of(path, 'module keyvault ')[0]}"]
    assert "through module" not in found[0].message
    assert "(deployed by ../main.bicep:3)" in found[0].message  # relative to the module's folder
    assert "'kv-demo'" in found[0].message  # the value passed in, evaluated in the module


def test_module_is_an_inner_scoped_deployment_with_its_template_inline():
    doc = load_document(str(BICEP / "module" / "main.bicep"), (BICEP / "module" / "main.bicep").read_bytes())
    deployment = doc.data["resources"][0]
    assert deployment["type"] == "Microsoft.Resources/deployments"
    assert deployment["properties"]["expressionEvaluationOptions"] == {"scope": "inner"}
    assert deployment["properties"]["parameters"]["policies"] == {"value": []}
    assert deployment["properties"]["template"]["resources"][0]["type"] == "Microsoft.KeyVault/vaults"


def test_a_name_made_while_its_variable_is_converted_is_not_reused(tmp_path):
    """A resource's name and id are made once and reused by every reference, but not the ones
    made while a variable that the name reads is being converted (where a read of it is a
    reference to itself): the template's own name and variable read `variables('x')`."""
    doc = load(tmp_path, """
        var storageId = store.id
        resource store 'Microsoft.Storage/storageAccounts@2023-01-01' = {
          name: 'st${uniqueString(storageId)}'
          location: 'westeurope'
        }
        """)
    assert doc.error is None
    named = "Call('format', (Literal('st{0}'), Call('uniquestring', (Call('variables', (Literal('storageId'),)),))))"
    assert repr(doc.data["resources"][0]["name"]) == named
    assert repr(doc.data["variables"]["storageId"]) == \
        f"Call('resourceid', (Literal('Microsoft.Storage/storageAccounts'), {named}))"


def test_module_cycles_and_missing_modules_do_not_hang(tmp_path):
    (tmp_path / "a.bicep").write_text("module b 'b.bicep' = {\n  name: 'b'\n}\n")
    (tmp_path / "b.bicep").write_text("module a 'a.bicep' = {\n  name: 'a'\n}\n")
    (tmp_path / "c.bicep").write_text("module gone 'nowhere/x.bicep' = {\n  name: 'x'\n}\n"
                                      "module reg 'br/public:avm/res/key-vault/vault:0.9.0' = {\n  name: 'r'\n}\n")
    found = findings(tmp_path)
    notes = [f.message for f in found if f.rule == "PF010"]
    assert any("cycle" in m for m in notes)
    assert any("cannot be read" in m for m in notes)
    assert any("is not restored" in m for m in notes)
    assert not [f for f in found if f.rule in ("PF001", "PF003")]


def test_preserving_pattern_through_a_module_is_kv005():
    found = findings(BICEP / "preserving" / "main.bicep")
    assert rules_of(found) == ["KV005"]


# ---------------------------------------------------------------------------- parameters


def test_bicepparam_pairs_with_its_template_through_using():
    path = BICEP / "bicepparam" / "main.bicep"
    found = findings(path)  # only the template named: its .bicepparam is found beside it
    assert rules_of(found) == ["KV001"]
    assert "'kv-prod'" in found[0].message and "prod.bicepparam" in found[0].message


def test_bicepparam_document():
    path = BICEP / "bicepparam" / "prod.bicepparam"
    doc = load_document(str(path), path.read_bytes())
    assert doc.kind == Kind.ARM_PARAMETERS and doc.format == "bicepparam"
    assert doc.data["parameters"] == {"keyVaultName": {"value": "kv-prod"}, "policies": {"value": []}}
    assert doc.cache["bicep.using"] == str(BICEP / "bicepparam" / "main.bicep")
    line, _ = line_of(path, "param policies = []")
    assert doc.locate("/parameters/policies/value") == (line, 18)


def test_bicepparam_unknown_values_stay_unknown(tmp_path):
    (tmp_path / "main.bicep").write_text((BICEP / "bicepparam" / "main.bicep").read_text())
    (tmp_path / "main.bicepparam").write_text(
        "using 'main.bicep'\nparam keyVaultName = 'kv-env'\nparam policies = readEnvironmentVariable('POLICIES')\n")
    found = findings(tmp_path / "main.bicep")
    assert rules_of(found) == ["KV004"]  # not KV001: the value is not known offline


def test_json_parameter_file_beside_main_bicep_pairs_as_for_arm():
    found = findings(BICEP / "jsonparams" / "main.bicep")
    assert rules_of(found) == ["KV001"]
    assert "main.parameters.json" in found[0].message


def test_param_option_overrides_defaults():
    assert rules_of(findings(BICEP / "for-empty", params={"policies": [
        {"objectId": "x", "permissions": {"secrets": ["get"]}}]})) == ["KV003"]


def test_parameter_declarations_map_decorators_and_types(tmp_path):
    doc = load(tmp_path, """
        @allowed([
          'a'
          'b'
        ])
        param choice string = 'a'
        @minValue(1)
        @maxValue(5)
        param count int = 2
        @secure()
        param password string
        param maybe string?
        param letter 'x' | 'y'
        type size = 'S' | 'M'
        param shirt size
        param list string[] = []
        """)
    p = doc.data["parameters"]
    assert p["choice"] == {"type": "string", "defaultValue": "a", "allowedValues": ["a", "b"]}
    assert p["count"] == {"type": "int", "defaultValue": 2, "minValue": 1, "maxValue": 5}
    assert p["password"] == {"type": "securestring"}
    assert p["maybe"] == {"type": "string", "nullable": True}
    assert p["letter"] == {"type": "string", "allowedValues": ["x", "y"]}
    assert p["shirt"] == {"type": "string", "allowedValues": ["S", "M"]}
    assert p["list"] == {"type": "array", "defaultValue": []}


# --------------------------------------------------------------------- suppression, errors


def test_inline_suppression_on_the_line_above():
    assert findings(BICEP / "suppressed") == []


def test_inline_suppression_on_the_same_line(tmp_path):
    source = (BICEP / "quickstart" / "main.bicep").read_text().replace(
        "accessPolicies: []", "accessPolicies: [] // preflight: ignore[KV001]")
    (tmp_path / "main.bicep").write_text(source)
    assert "KV001" not in rules_of(findings(tmp_path))


def test_syntax_error_is_pf001_at_its_position():
    found = findings(BICEP / "broken")
    assert [(f.rule, f.line, f.column) for f in found] == [("PF001", 3, 34)]


@pytest.mark.parametrize("source, line, column", [
    ("var x = 'unterminated\nvar y = 1\n", 1, 9),
    ("resource r 'A.B/c@2020-01-01' = {\n  name: 'r'\n", 1, 33),  # the `{` never closed
    ("var x = concat('a'\nvar y = 1\n", 1, 15),  # the `(` never closed
])
def test_syntax_errors(tmp_path, source, line, column):
    doc = load(tmp_path, source)
    assert doc.kind == Kind.ARM_TEMPLATE and doc.error is not None
    assert (doc.error.line, doc.error.column) == (line, column)
    assert doc.error.message.startswith("invalid Bicep")


def test_newer_syntax_is_skipped_with_an_info_and_the_rest_is_checked():
    path = BICEP / "newer-syntax" / "main.bicep"
    found = findings(path)
    assert sorted(f.rule for f in found) == ["KV001", "PF010"]
    note = next(f for f in found if f.rule == "PF010")
    assert str(note.severity) == "info" and "`var piped`" in note.message
    assert note.line == line_of(path, "var piped")[0]
    doc = load_document(str(path), path.read_bytes())
    vault = deployed_resources(doc, None, "Microsoft.KeyVault/vaults")[0]
    assert vault.get("tags") == {"a": 1, "b": 2}  # the spread is read


def test_unknown_constructs_become_unknown_values_never_literals(tmp_path):
    doc = load(tmp_path, """
        import { defaults } from 'shared.bicep'
        var merged = [
          ...defaults
        ]
        resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {
          name: 'kv'
          properties: {
            accessPolicies: merged
          }
        }
        """)
    vault = deployed_resources(doc, None, "Microsoft.KeyVault/vaults")[0]
    assert isinstance(vault.get("properties/accessPolicies"), Unknown)  # not [] (a false KV001)


# ------------------------------------------------------------------- resources and names


def test_nested_child_and_parent_compose_type_and_name(tmp_path):
    doc = load_document(str(BICEP / "nested-child" / "main.bicep"),
                        (BICEP / "nested-child" / "main.bicep").read_bytes())
    by_type = {r.type: r for r in deployed_resources(doc, None)}
    grant = by_type["Microsoft.KeyVault/vaults/accessPolicies"]
    assert grant.name == "kv-nested/add"
    assert by_type["Microsoft.KeyVault/vaults/secrets"].name == "kv-nested/greeting"


def test_nested_child_of_an_existing_vault_is_deployed_alone(tmp_path):
    doc = load(tmp_path, """
        resource kv 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
          name: 'shared'
          resource grant 'accessPolicies' = {
            name: 'add'
            properties: {
              accessPolicies: []
            }
          }
        }
        """)
    vault, grant = deployed_resources(doc, None)
    assert (vault.type, vault.name, vault.existing, vault.deployed) == (
        "Microsoft.KeyVault/vaults", "shared", True, False)  # a reference, not deployed
    assert (grant.type, grant.name, grant.api_version, grant.existing) == (
        "Microsoft.KeyVault/vaults/accessPolicies", "shared/add", "2023-07-01", False)
    assert findings(tmp_path) == []


def test_existing_vault_in_a_module_is_in_the_callers_template(tmp_path):
    """An `existing` resource is in the generated template, marked `existing` (as in the Bicep
    compiler's symbolic-name output): reading it is a call with its apiVersion, also when a
    module declares it. KV019 reports the module's reference where it is written."""
    module = tmp_path / "modules" / "secrets.bicep"
    module.parent.mkdir()
    module.write_text(textwrap.dedent("""\
        param vaultName string
        resource kv 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
          name: vaultName
        }
        output uri string = kv.properties.vaultUri
        """))
    main = tmp_path / "main.bicep"
    main.write_text("module s 'modules/secrets.bicep' = {\n  name: 's'\n  params: { vaultName: 'kv1' }\n}\n")
    doc = load_document(str(main), main.read_bytes())
    [vault] = deployed_resources(doc, None, "Microsoft.KeyVault/vaults")
    assert (vault.type, vault.name, vault.api_version, vault.existing, vault.deployed) == (
        "Microsoft.KeyVault/vaults", "kv1", "2023-07-01", True, False)
    [found] = scan([str(main)], Options(select={"KV019"})).findings
    assert (found.path, found.line, found.column) == (str(module), *line_of(module, "'Microsoft.KeyVault/vaults@"))
    assert "(existing)" in found.message and found.data["callers"] == [f"{main}:1"]


def test_child_of_a_conditional_parent_keeps_the_condition(tmp_path):
    doc = load(tmp_path, """
        param create bool = false
        resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = if (create) {
          name: 'kv'
          resource secret 'secrets' = {
            name: 's'
          }
        }
        """)
    assert {r.type: r.status.state for r in deployed_resources(doc, None)} == {
        "Microsoft.KeyVault/vaults": "not-deployed", "Microsoft.KeyVault/vaults/secrets": "not-deployed"}


def test_module_scope_targets_another_resource_group(tmp_path):
    (tmp_path / "mod.bicep").write_text("param n string\n")
    doc = load(tmp_path, """
        targetScope = 'subscription'
        module m 'mod.bicep' = {
          name: 'm'
          scope: resourceGroup('rg-${'x'}')
          params: {
            n: 'a'
          }
        }
        """)
    assert "subscriptionDeploymentTemplate" in doc.data["$schema"]
    [m] = deployed_resources(doc, None)
    assert m.get("resourceGroup") == "rg-x"


def test_explicit_bicepparam_file_with_the_parameters_option(tmp_path):
    for name in ("main.bicep",):
        (tmp_path / name).write_text((BICEP / "bicepparam" / name).read_text())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "values.bicepparam").write_text(
        "using '../main.bicep'\nparam keyVaultName = 'kv-other'\nparam policies = []\nparam extra = 1\n")
    found = findings(tmp_path / "main.bicep", parameter_files=(str(tmp_path / "other" / "values.bicepparam"),))
    kv001 = [f for f in found if f.rule == "KV001"]
    assert len(kv001) == 1 and "'kv-other'" in kv001[0].message
    assert "ARM003" in rules_of(found, None)  # `extra` is not declared by the template


def test_existing_resources_are_not_deployed_but_can_be_referenced(tmp_path):
    doc = load(tmp_path, """
        resource kv 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
          name: 'shared'
          scope: resourceGroup('security')
        }
        resource app 'Microsoft.Web/sites@2022-09-01' = {
          name: 'app'
          properties: {
            vaultId: kv.id
            vaultName: kv.name
            vaultUri: kv.properties.vaultUri
            where: kv.location
          }
        }
        """)
    resources = deployed_resources(doc, None)
    assert [(r.type, r.existing, r.deployed) for r in resources] == [
        ("Microsoft.KeyVault/vaults", True, False), ("Microsoft.Web/sites", False, True)]
    app = resources[1]
    vault_id = app.get("properties/vaultId")
    assert isinstance(vault_id, ResourceRef) and vault_id.names == ("shared",)
    assert vault_id.resource_group == "security"
    assert app.get("properties/vaultName") == "shared"
    uri = app.get("properties/vaultUri")
    assert isinstance(uri, RuntimeValue) and uri.path == ("vaultUri",) and not uri.full
    assert isinstance(app.get("properties/where"), RuntimeValue)


def test_resource_loops_conditions_and_copy():
    doc = load_document(str(BICEP / "loops" / "main.bicep"), (BICEP / "loops" / "main.bicep").read_bytes())
    vaults = deployed_resources(doc, None, "Microsoft.KeyVault/vaults")
    deployed = [v for v in vaults if v.deployed]
    assert sorted(v.name for v in deployed) == ["kv-one", "kv-two"]
    assert [v.status.state for v in vaults if not v.deployed] == ["not-deployed"]  # the loop over []


def test_filtered_resource_loop_becomes_a_condition(tmp_path):
    doc = load(tmp_path, """
        param names array = [
          'a'
          'b'
        ]
        resource sa 'Microsoft.Storage/storageAccounts@2023-01-01' = [for (n, i) in names: if (i > 0) {
          name: n
        }]
        """)
    states = {r.name: r.status.state for r in deployed_resources(doc, None)}
    assert states == {"a": "not-deployed", "b": "deployed"}


def test_module_loop_and_condition_and_outputs(tmp_path):
    (tmp_path / "mod.bicep").write_text("param n string\noutput id string = n\n")
    doc = load(tmp_path, """
        param deploy bool = true
        module m 'mod.bicep' = [for n in ['x', 'y']: if (deploy) {
          name: 'm-${n}'
          params: {
            n: n
          }
        }]
        module one 'mod.bicep' = {
          name: 'one'
          params: {
            n: m[0].outputs.id
          }
        }
        """)
    deployments = deployed_resources(doc, None, "Microsoft.Resources/deployments")
    assert sorted(d.name for d in deployments) == ["m-x", "m-y", "one"]
    one = next(d for d in deployments if d.name == "one")
    value = one.get("properties/parameters/n/value")
    assert isinstance(value, RuntimeValue) and value.path == ("outputs", "id", "value")


# ------------------------------------------------------------------------- expressions


def prop(tmp_path, expression, prelude="", **params):
    """The value of `expression` as a resource property, evaluated with `params`."""
    doc = load(tmp_path, f"{textwrap.dedent(prelude)}\nresource r 'A.B/c@2020-01-01' = {{\n  name: 'r'\n"
                         f"  properties: {{\n    v: {expression}\n  }}\n}}\n")
    assert doc.error is None, doc.error.message
    from preflight.arm.deployments import Evaluation
    from preflight.arm.parameters import ParameterSet
    from preflight.arm.deployments import template_of
    ev = Evaluation(doc, template_of(doc), ParameterSet(None, params), None)
    return ev.resources[0].get("properties/v")


@pytest.mark.parametrize("expression, expected", [
    ("'kv-${p}-x'", "kv-P-x"),
    ("'${p}'", "P"),
    ("'a{b}${p}'", "a{b}P"),
    ("n > 1 ? 'big' : 'small'", "big"),
    ("!flag", True),
    ("flag && n == 2", False),
    ("flag || n == 3", True),
    ("n != 2", True),
    ("p =~ 'p'", True),
    ("p !~ 'p'", False),
    ("n + 2 * 3", 9),
    ("-n", -3),
    ("n % 2", 1),
    ("missing ?? 'fallback'", "fallback"),
    ("obj.?nothere ?? 'none'", "none"),
    ("obj.a.b", 1),
    ("obj['a']['b']", 1),
    ("list[1]", "y"),
    ("list[?5] ?? 'out'", "out"),
    ("empty(list) || length(list) == 2", True),
    ("union(obj, { c: 2 }).c", 2),
    ("contains(list, 'x')", True),
    ("toUpper(first(list))", "X"),
    ("map(list, x => '${x}!')", ["x!", "y!"]),
    ("filter(list, x => x != 'x')", ["y"]),
    ("!o2.t", False),  # `!` applies to o2.t, not to o2 (the grammar's own precedence is wrong)
    ("flag || o2.t", True),
    ("n == 3 ? o2.t : o2.f", True),
    ("any(n)", 3),
    ("sys.concat('a', 'b')", "ab"),
    ("concat(list, [\n  string(n)\n])", ["x", "y", "3"]),
    ("[\n  toUpper(p)\n  'z'\n]", ["P", "z"]),  # `f(x)` as an array's first item
    ("'http://host//path'", "http://host//path"),
    ("'\\'//\\''", "'//'"),  # `//` after an escape is text, not a comment
    ("' '", " "),
    ("'a ${p} ${p}'", "a P P"),
    ("'''\nline ${p}\n'''", "line ${p}\n"),  # multi-line strings do not interpolate
    ("fn('a')", "a!"),
    ("filter(objs, x => x.on && x.n > 1)", [{"on": True, "n": 2}]),  # the grammar cuts lambda bodies short
    ("sort(objs, (a, b) => a.n < b.n)[0].n", 0),
    ("map(objs, x => x.on ? x.n : 0 - x.n)", [2, 0, -5]),
    ("reduce(objs, 0, (acc, x) => acc + x.n * 2)", 14),
    ("resourceGroup().location == 'westeurope'", None),
])
def test_expressions(tmp_path, expression, expected):
    prelude = """
        param p string = 'P'
        param n int = 3
        param flag bool = false
        param missing string?
        param obj object = {
          a: {
            b: 1
          }
        }
        param list array = [
          'x'
          'y'
        ]
        param o2 object = {
          t: true
          f: false
        }
        param objs array = [
          {
            on: true
            n: 2
          }
          {
            on: true
            n: 0
          }
          {
            on: false
            n: 5
          }
        ]
        func fn(s string) string => '${s}!'
        """
    value = prop(tmp_path, expression, prelude)
    if expected is None:
        assert isinstance(value, Unknown)
    else:
        assert value == expected


@pytest.mark.parametrize("expression", [
    "resourceGroup().location",
    "subscription().tenantId",
    "tenant().tenantId",
    "uniqueString(resourceGroup().id)",
    "reference('x', '2020-01-01').y",
    "undeclaredThing",
    "loadTextContent('does-not-exist.txt')",
])
def test_values_known_only_at_deployment_are_unknown(tmp_path, expression):
    assert isinstance(prop(tmp_path, expression), Unknown)


def test_subscription_tenant_id_stays_an_expression(tmp_path):
    doc = load(tmp_path, "resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {\n  name: 'kv'\n"
                         "  properties: {\n    tenantId: subscription().tenantId\n  }\n}\n")
    raw = doc.data["resources"][0]["properties"]["tenantId"]
    assert isinstance(raw, Node)  # not a literal tenant id (KV010 looks for literals)


def test_variables_loops_and_runtime_inlining(tmp_path):
    doc = load(tmp_path, """
        param names array = [
          'a'
        ]
        var items = [for (n, i) in names: {
          name: n
          index: i
        }]
        var live = reference(resourceId('Microsoft.KeyVault/vaults', 'kv'), '2023-07-01').accessPolicies
        resource r 'A.B/c@2020-01-01' = {
          name: 'r'
          properties: {
            items: items
            live: live
          }
        }
        """)
    assert "live" not in doc.data["variables"]  # read at deployment: inlined where used, as Bicep does
    assert doc.data["variables"]["copy"][0]["name"] == "items"
    r = deployed_resources(doc, None)[0]
    assert r.get("properties/items") == [{"name": "a", "index": 0}]
    live = r.get("properties/live")
    assert isinstance(live, RuntimeValue) and live.path == ("accessPolicies",)


def test_load_content_functions_read_files_beside_the_template(tmp_path):
    (tmp_path / "policies.json").write_text('[{"objectId": "1"}]')
    (tmp_path / "script.sh").write_text("echo hi\n")
    assert prop(tmp_path, "loadJsonContent('policies.json')") == [{"objectId": "1"}]
    assert prop(tmp_path, "loadTextContent('script.sh')") == "echo hi\n"


def test_string_that_looks_like_an_arm_expression_stays_literal(tmp_path):
    assert prop(tmp_path, "'[not an expression]'") == "[not an expression]"


def test_positions_map_template_pointers_to_bicep_lines(tmp_path):
    doc = load(tmp_path, """
        param a string = 'x'
        resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {
          name: a
          properties: {
            sku: {
              name: 'standard'
            }
            accessPolicies: [
              {
                objectId: a
              }
            ]
          }
        }
        """)
    assert doc.locate("/parameters/a") == (2, 7)
    assert doc.locate("/resources/0") == (3, 1)
    assert doc.locate("/resources/0/name") == (4, 3)
    assert doc.locate("/resources/0/properties/sku/name") == (7, 7)
    assert doc.locate("/resources/0/properties/accessPolicies") == (9, 5)
    assert doc.locate("/resources/0/properties/accessPolicies/0/objectId") == (11, 9)


def test_positions_of_module_parameters_and_property_loops_and_none_from_inside_modules(tmp_path):
    """The scanned file's own pointers each have their line; a module's template has none of
    its own (its unit records none): everything in it is at the module call."""
    (tmp_path / "mod.bicep").write_text("param tags object\n"
                                        "resource s 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n"
                                        "  name: 'st'\n  tags: tags\n  properties: { a: [ 1 ] }\n}\n")
    doc = load(tmp_path, """
        param names array = [ 'a', 'b' ]
        module m 'mod.bicep' = {
          name: 'm'
          params: {
            tags: { owner: 'x' }
          }
        }
        resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {
          name: 'kv'
          properties: {
            accessPolicies: [for n in names: {
              objectId: n
            }]
            list: [
              'one'
              'two'
            ]
          }
        }
        """)
    template = "/resources/1/properties/template"
    assert doc.data["resources"][1]["properties"]["parameters"]["tags"] == {"value": {"owner": "x"}}
    assert doc.locate("/resources/1/properties/parameters/tags") == (6, 5)
    assert doc.locate("/resources/1/properties/parameters/tags/value") == (6, 5)
    assert doc.locate("/resources/1/properties/parameters/tags/value/owner") == (6, 13)
    assert doc.locate("/resources/0/properties/copy") == (12, 5)
    assert doc.locate("/resources/0/properties/copy/0/input/objectId") == (13, 7)
    assert doc.locate("/resources/0/properties/list/1") == (17, 7)
    assert not [p for p in doc.positions if p.startswith(template + "/")]
    assert doc.locate(template + "/resources/0/properties/a/0") == (3, 1)


# --------------------------------------------------------------- robustness and plumbing


@pytest.mark.parametrize("source", [
    "",
    "\n\n",
    "resource",
    "var x = " + "(" * 3000 + "1" + ")" * 3000,
    "var x = " + "[" * 2000 + "]" * 2000,
    "var x = '${'${'${'${'${a}'}'}'}'}'",
    "param p string = '\\u{110000}\\u{D800}'",
    "module m '../../../../../../etc/passwd' = {\n  name: 'm'\n}\n",
    "resource r 'Microsoft.KeyVault/vaults' = {\n  name: r.name\n}\n",
    "var a = b\nvar b = a\nresource r 'A.B/c@1' = {\n  name: a\n}\n",
    "\x00\x01garbage",
    "résumé = '€'\nvar ünïcode = 'ø'",
])
def test_hostile_input_never_crashes(tmp_path, source):
    path = tmp_path / "main.bicep"
    path.write_bytes(source.encode("utf-8", "surrogatepass"))
    result = scan([str(path)], Options())
    assert not [f for f in result.findings if f.rule == "PF003"], result.findings
    assert result.checked == [str(path)]  # read as a Bicep file, not skipped


def test_bicep_files_are_discovered_and_sniffed(tmp_path):
    (tmp_path / "main.bicep").write_text("param x string\n")
    (tmp_path / "main.bicepparam").write_text("using 'main.bicep'\nparam x = 'a'\n")
    assert sniff("main.bicep", b"") == Kind.ARM_TEMPLATE
    assert sniff("x.bicepparam", b"") == Kind.ARM_PARAMETERS
    assert scan([str(tmp_path)], Options()).files == 2


@pytest.mark.parametrize("target, imported", [(FIXTURES / "demo", False), (BICEP / "quickstart", True)])
def test_the_bicep_parser_is_imported_only_when_a_bicep_file_is_read(target, imported):
    code = ("import sys; from preflight.engine import Options, scan; "
            f"scan([{str(target)!r}], Options()); print('preflight.bicep.syntax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == str(imported), out.stderr


def test_cli_json_report_for_a_bicep_file():
    report, proc = scan_json(str(BICEP / "quickstart" / "main.bicep"))
    assert proc.returncode == 1
    kv001 = [f for f in report["findings"] if f["rule"] == "KV001"]
    assert kv001 and kv001[0]["path"].endswith("main.bicep") and kv001[0]["line"] == 36


# ------------------------------------------------------------------- Bicep names in messages

NAMED_VAULT = """\
    param suffix string{default}

    resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {{
      name: 'kv-${{suffix}}'
      location: 'westeurope'
      properties: {{
        tenantId: subscription().tenantId
        sku: {{ family: 'A', name: 'standard' }}
        publicNetworkAccess: 'Disabled'
        accessPolicies: []
      }}
    }}
    """


def test_a_finding_names_the_bicep_symbol_and_the_name_as_written(tmp_path):
    (tmp_path / "main.bicep").write_text(textwrap.dedent(NAMED_VAULT.format(default="")))
    [kv] = findings(tmp_path / "main.bicep")
    assert kv.rule == "KV001" and kv.line == 10
    assert kv.message.startswith("Key Vault `keyVault` ('kv-${suffix}') has `accessPolicies: []`")
    assert "parameters(" not in kv.message  # never the ARM expression the compiler emits


def test_a_resolved_name_is_shown_beside_the_symbol(tmp_path):
    (tmp_path / "main.bicep").write_text(textwrap.dedent(NAMED_VAULT.format(default=" = 'dev'")))
    [kv] = findings(tmp_path / "main.bicep")
    assert kv.message.startswith("Key Vault `keyVault` ('kv-dev') has `accessPolicies: []`")


def test_a_vault_in_a_module_is_named_by_the_modules_symbol(tmp_path):
    (tmp_path / "vault.bicep").write_text(textwrap.dedent(NAMED_VAULT.format(default="")))
    (tmp_path / "main.bicep").write_text("module store 'vault.bicep' = {\n  name: 'store'\n"
                                         "  params: {\n    suffix: 'prod'\n  }\n}\n")
    [kv] = findings(tmp_path / "main.bicep")
    assert kv.message.startswith("Key Vault `keyVault` ('kv-prod') has `accessPolicies: []`")
    assert kv.path.endswith("vault.bicep") and kv.message.endswith("(deployed by main.bicep:1)")


def test_every_reference_to_a_parameter_is_one_tree(tmp_path):
    """Trees are never changed once built, so each reference to a parameter shares one."""
    doc = load(tmp_path, """
        param name string
        resource a 'Microsoft.Storage/storageAccounts@2023-01-01' = {
          name: name
          properties: { label: name }
        }
        """)
    resource = doc.data["resources"][0]
    assert repr(resource["name"]) == "Call('parameters', (Literal('name'),))"
    assert resource["properties"]["label"] is resource["name"]


def test_existing_resources_the_outputs_read_are_read():
    """An `existing` resource is read (a GET) when an expression, outputs included, reads its
    properties or calls a list*() function on it; the outputs stop being converted once every
    such resource is read, and one nothing reads stays unread."""
    from preflight.bicep.compiler import compile_parsed
    from preflight.bicep.syntax import parse

    def unread(source: str) -> set[str]:
        return compile_parsed(parse(textwrap.dedent(source)), None).unread

    declarations = """\
        resource a 'Microsoft.KeyVault/vaults@2023-07-01' existing = { name: 'a' }
        resource b 'Microsoft.KeyVault/vaults@2023-07-01' existing = { name: 'b' }
        resource c 'Microsoft.Storage/storageAccounts@2023-01-01' existing = { name: 'c' }
        """
    assert unread(declarations) == {"/resources/0", "/resources/1", "/resources/2"}
    assert unread(declarations + """\
        output id string = a.id
        output uri string = b.properties.vaultUri
        output names array = [for x in range(0, 2): a.name]
        output key string = c.listKeys().keys[0].value
        """) == {"/resources/0"}  # .id and .name make no GET
    assert unread(declarations + """\
        var uri = a.properties.vaultUri
        output u string = uri
        output b object = b
        output l string = [for b in range(0, 1): b.properties][0]
        output k string = c.listKeys().keys[0].value
        """) == {"/resources/1"}  # (the loop's `b` is its own)


def test_the_compiler_makes_calls_as_the_expression_parser_does(monkeypatch):
    """Function names are lowered and interned once (a few names, tens of thousands of calls),
    and not kept past a bound (a file can make up any number of names)."""
    from preflight.arm.expressions import Call, Literal
    from preflight.bicep import compiler

    for _ in range(2):  # the name's first use, then the kept one
        made = compiler.call("resourceGroup", Literal("x"))
        parsed = Call("resourceGroup", (Literal("x"),), "resourceGroup")
        assert type(made) is Call and made == parsed and hash(made) == hash(parsed)
        assert (made.name, made.spelling, made.args) == ("resourcegroup", "resourceGroup", (Literal("x"),))
        assert made.name is sys.intern("resourcegroup")
    monkeypatch.setattr(compiler, "_CALL_NAMES", {str(i): ("", "") for i in range(4096)})
    made = compiler.call("madeUp")
    assert (made.name, made.spelling, made.args) == ("madeup", "madeUp", ())
    assert "madeUp" not in compiler._CALL_NAMES


def test_an_imported_name_read_many_times_is_one_note_at_its_import(tmp_path):
    (tmp_path / "constants.bicep").write_text("@export()\nvar abbrs = {\n  kv: 'kv-'\n  sa: 'st'\n}\n")
    main = tmp_path / "main.bicep"
    main.write_text(textwrap.dedent("""\
        import * as const from 'constants.bicep'
        param token string
        param kvName string = '${const.abbrs.kv}${token}'
        param saName string = '${const.abbrs.sa}${token}'
        var names = [const.abbrs.kv, const.abbrs.sa]
        resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {
          name: kvName
          location: 'westeurope'
          properties: {
            tenantId: subscription().tenantId
            sku: { family: 'A', name: 'standard' }
            accessPolicies: []
          }
        }
        output names array = names
        """))
    found = findings(main)
    notes = [f for f in found if f.rule == "PF010"]
    assert [(f.line, f.column) for f in notes] == [(1, 1)]  # four reads, one note, at the import
    assert notes[0].message == ("'const' is imported from 'constants.bicep': the values read from it are not "
                                "evaluated")
    assert "KV001" in {f.rule for f in found}  # the rest of the file is checked
