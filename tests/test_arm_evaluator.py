"""The evaluator, one function group at a time: known results, and Unknown where ARM would
need something preflight does not have."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preflight.contract import DeploymentTarget
from preflight.arm.evaluator import MAX_COPY, DeploymentContext, Session, evaluate, standalone_scope
from preflight.arm.template import Template
from preflight.arm.values import (CONTEXT, INVALID, LIMIT, OPAQUE, PARAMETER, PLACEHOLDER, RUNTIME, ResourceRef,
                                  RuntimeValue, Unknown, find_unknown, same_text, split_last)

TEMPLATE = {
    "parameters": {
        "name": {"type": "string", "defaultValue": "kv"},
        "count": {"type": "int", "defaultValue": 2},
        "flag": {"type": "bool", "defaultValue": True},
        "empty": {"type": "array", "defaultValue": []},
        "required": {"type": "string"},
        "requiredList": {"type": "array"},
        "derived": {"type": "string", "defaultValue": "[concat(parameters('name'), '-x')]"},
        "nullable": {"type": "array", "nullable": True},
    },
    "variables": {
        "suffix": "[toLower('-PROD')]",
        "full": "[concat(parameters('name'), variables('suffix'))]",
        "a": "[variables('b')]",
        "b": "[variables('a')]",
        "obj": {"copy": [{"name": "items", "count": 3, "input": "[mul(copyIndex('items'), 10)]"}]},
        "copy": [{"name": "generated", "count": "[parameters('count')]", "input": {"i": "[copyIndex('generated')]"}}],
    },
}


def ev(expression, params=None, template=TEMPLATE, context=None):
    scope = standalone_scope(Template.from_json(template), params, context)
    return evaluate(expression, scope)


def needs(value):
    assert isinstance(value, Unknown), value
    return {kind for kind, _ in value.needs}


# ------------------------------------------------------------------------------------- scope

def test_parameter_precedence_value_then_default_then_unknown():
    assert ev("[parameters('name')]") == "kv"
    assert ev("[parameters('name')]", {"name": "given"}) == "given"
    assert ev("[parameters('derived')]") == "kv-x"  # a default that is itself an expression
    missing = ev("[parameters('required')]")
    assert needs(missing) == {PARAMETER}
    assert "--param required=VALUE" in missing.reason
    assert ev("[parameters('nullable')]") is None


def test_parameter_names_are_case_insensitive_and_typed_values_are_coerced():
    assert ev("[parameters('NAME')]") == "kv"
    assert ev("[parameters('name')]", {"name": 12}) == "12"  # --param name=12 for a string parameter
    assert ev("[parameters('count')]", {"count": "5"}) == 5
    assert ev("[parameters('flag')]", {"flag": "false"}) is False


def test_undeclared_parameter_is_an_invalid_unknown():
    value = ev("[parameters('nope')]")
    assert needs(value) == {INVALID} and "not declared" in value.reason


def test_variables_chain_and_copy_loops():
    assert ev("[variables('full')]") == "kv-prod"
    assert ev("[variables('obj')]") == {"items": [0, 10, 20]}
    assert ev("[variables('generated')]") == [{"i": 0}, {"i": 1}]
    assert ev("[variables('generated')]", {"count": 0}) == []


def test_long_chains_of_declarations_are_evaluated_deepest_first_in_every_frame():
    # v299 -> ... -> v0 -> parameters('p299') -> ... -> parameters('p0'): far deeper than the
    # evaluator nests expressions, so each end is known only if the chain is settled first.
    # What a template's declarations name is read once and kept with the template: a second
    # frame of the same template, with a parameter given from outside, settles its own chain.
    n = 300
    variables = {f"v{i}": f"[variables('v{i - 1}')]" for i in range(1, n)}
    variables["v0"] = f"[parameters('p{n - 1}')]"
    variables["v150"] = "[if(equals(1, 1), variables('v149'), variables('v0'))]"  # a link in an if() branch
    parameters = {f"p{i}": {"type": "string", "defaultValue": f"[parameters('p{i - 1}')]"} for i in range(1, n)}
    parameters["p0"] = {"type": "string", "defaultValue": "end"}
    template = Template.from_json({"parameters": parameters, "variables": variables})
    assert evaluate(f"[variables('v{n - 1}')]", standalone_scope(template)) == "end"
    assert evaluate(f"[variables('v{n - 1}')]", standalone_scope(template, {"p150": "given"})) == "given"
    assert evaluate("[parameters('p3')]", standalone_scope(template)) == "end"


def test_a_trace_holds_the_parameters_read_within_it_at_any_depth():
    # condition -> variables('outer') -> variables('inner') -> parameters('name'), and a
    # parameter read after a nested trace ended in an error: each trace holds every read below it.
    template = Template.from_json({
        "parameters": {"name": {"type": "string"}, "other": {"type": "string", "defaultValue": "x"}},
        "variables": {"inner": "[parameters('name')]", "outer": "[concat(variables('inner'), '-')]"}})
    scope = standalone_scope(template, {"name": "kv"})
    session = scope.session

    def failing() -> None:
        evaluate("[parameters('other')]", scope)
        raise RecursionError

    def condition() -> object:
        try:
            session.traced(failing)
        except RecursionError:
            pass
        return evaluate("[variables('outer')]", scope)

    value, uses = session.traced(lambda: session.traced(condition)[0])
    assert value == "kv-"
    assert sorted(u.name for u in uses) == ["name", "other"]
    again, uses = session.traced(lambda: evaluate("[variables('outer')]", scope))  # memoised: its reads again
    assert again == "kv-" and [u.name for u in uses] == ["name"] and uses == session.traced(
        lambda: evaluate("[parameters('name')]", scope))[1]


def test_a_declarations_value_is_measured_once(monkeypatch):
    import preflight.arm.evaluator as evaluator

    measured = []

    def counting(value, known, limit):
        measured.append(value)
        return real(value, known, limit)

    real = evaluator.value_size
    monkeypatch.setattr(evaluator, "value_size", counting)
    template = Template.from_json({
        "parameters": {"tags": {"type": "object", "defaultValue": {"env": "prod", "ids": [1, 2, 3]}}},
        "variables": {"all": {"tags": "[parameters('tags')]", "more": ["[parameters('tags')]"]}}})
    scope = standalone_scope(template)
    tags = evaluate("[parameters('tags')]", scope)
    assert tags == {"env": "prod", "ids": [1, 2, 3]}
    assert [m for m in measured if m is tags] == [tags]  # built by `evaluate`, then memoised as it is
    everything = evaluate("[variables('all')]", scope)
    assert everything == {"tags": tags, "more": [tags]} and [m for m in measured if m is everything] == [everything]
    assert evaluate("[parameters('tags')]", scope) is tags and len([m for m in measured if m is tags]) == 1


def test_variable_cycle_is_unknown_not_a_hang():
    value = ev("[variables('a')]")
    assert needs(value) == {INVALID} and "cycle" in value.reason


def test_copy_index_outside_a_loop_is_unknown():
    assert needs(ev("[copyIndex()]")) == {INVALID}


# ----------------------------------------------------------------------------------- strings

@pytest.mark.parametrize("expression, expected", [
    ("[concat('a', 'b', 1)]", "ab1"),
    ("[concat(createArray(1), createArray(2, 3))]", [1, 2, 3]),
    ("[format('{0}-{1:D3}-{{x}}', 'kv', 7)]", "kv-007-{x}"),
    ("[format('{0}', true())]", "True"),
    ("[toUpper('abc')]", "ABC"),
    ("[replace('a-b-c', '-', '')]", "abc"),
    ("[substring('abcdef', 2, 3)]", "cde"),
    ("[split('a,b;c', createArray(',', ';'))]", ["a", "b", "c"]),
    ("[trim('  x ')]", "x"),
    ("[string(createObject('a', 1))]", '{"a":1}'),
    ("[startsWith('KeyVault', 'key')]", True),  # case-insensitive in ARM
    ("[endsWith('KeyVault', 'VAULT')]", True),
    ("[indexOf('abcabc', 'C')]", 2),
    ("[lastIndexOf('abcabc', 'c')]", 5),
    ("[padLeft(7, 3, '0')]", "007"),
    ("[base64ToString(base64('hé'))]", "hé"),
    ("[uriComponent('a b')]", "a%20b"),
])
def test_string_functions(expression, expected):
    assert ev(expression) == expected


def test_concat_around_unknowns_keeps_parts_for_comparison():
    name = ev("[format('{0}/add', parameters('required'))]")
    assert isinstance(name, Unknown) and name.parts[-1] == "/add"
    head, tail = split_last(name)
    assert tail == "add"
    assert same_text(head, ev("[parameters('required')]")) is True
    assert same_text(ev("[concat('kv-', parameters('required'))]"), "app-x") is False  # prefixes differ
    assert same_text(ev("[concat('kv-', parameters('required'))]"), "kv-x") is None  # cannot tell


def test_pipeline_tokens_are_unknown_parts_of_a_known_text():
    template = {"parameters": {"namePrefix": {"type": "string", "defaultValue": "#_namePrefix_#"}}}
    name = ev("[format('dep-{0}-kv-{1}', parameters('namePrefix'), 'x')]", template=template)
    assert isinstance(name, Unknown) and name.parts[0] == "dep-" and name.parts[-1] == "-kv-x"
    assert needs(name) == {PLACEHOLDER} and "#_namePrefix_#" in name.reason
    assert same_text(name, "app-x") is False and same_text(name, "dep-abc-kv-x") is None
    literal = ev("dep-#_namePrefix_#-kv-x")  # a plain string in a template, not an expression
    assert isinstance(literal, Unknown) and same_text(literal, name) is True
    assert ev("#_namePrefix_#").key == "#_namePrefix_#"
    assert ev("a #_ b _# c") == "a #_ b _# c"  # not a token: letters and digits only


def test_to_lower_of_unknown_parts():
    value = ev("[toLower(concat('KV-', parameters('required')))]")
    assert value.parts[0] == "kv-" and isinstance(value.parts[1], Unknown)


def test_string_function_errors_are_invalid_unknowns():
    assert needs(ev("[substring('abc', 5)]")) == {INVALID}
    assert needs(ev("[length(3)]")) == {INVALID}
    assert needs(ev("[concat('a', createObject())]")) == {INVALID}


def test_a_format_string_read_once_formats_each_call_with_its_own_arguments():
    # The items of a short format string are kept: every call still formats its own arguments,
    # and a format string with an error still fails where it did, however often it is used.
    for _ in range(2):
        assert ev("[format('{0}-{1,4}:{{x}}', 'kv', 7)]") == "kv-   7:{x}"
        assert ev("[format('{0}-{1,4}:{{x}}', 'vault', 12345)]") == "vault-12345:{x}"
        assert ev("[format('{0}-{1}', 'a', 'b')]") == "a-b"
        assert ev("[format('{1}+{0}', 'a', 'b')]") == "b+a"
        assert needs(ev("[format('{0}-{2}', 'a', 'b')]")) == {INVALID}
        assert needs(ev("[format('{0} {', 'a')]")) == {INVALID}
    long = "x" * 250 + "{0}{1}"  # a long one is read where it is used, not kept
    assert ev(f"[format('{long}', 'a', 'b')]") == "x" * 250 + "ab"
    assert ev(f"[format('{long}', 'c', 'd')]") == "x" * 250 + "cd"


# ------------------------------------------------------------------------------------- logic

@pytest.mark.parametrize("expression, expected", [
    ("[if(parameters('flag'), 'yes', 'no')]", "yes"),
    ("[equals(createArray(1, createObject('a', 'b')), createArray(1, createObject('A', 'b')))]", True),
    ("[equals('a', 'A')]", False),
    ("[not(equals(1, 2))]", True),
    ("[and(true(), greater(3, 2), lessOrEquals(2, 2))]", True),
    ("[or(false(), less(3, 2))]", False),
    ("[coalesce(null(), null(), 'x')]", "x"),
    ("[bool('True')]", True),
    ("[int('42')]", 42),
    ("[greaterOrEquals('b', 'a')]", True),
])
def test_logic_functions(expression, expected):
    assert ev(expression) == expected


def test_if_is_lazy_and_short_circuits_decide_past_unknowns():
    # The branch not taken is never evaluated: its error does not matter.
    assert ev("[if(parameters('flag'), 1, div(1, 0))]") == 1
    assert ev("[and(false(), parameters('required'))]") is False
    assert ev("[or(parameters('required'), true())]") is True
    assert needs(ev("[and(true(), equals(parameters('required'), 'x'))]")) == {PARAMETER}
    assert needs(ev("[coalesce(parameters('required'), 'x')]")) == {PARAMETER}


def test_if_with_unknown_condition_keeps_what_both_branches_share():
    value = ev("[if(equals(parameters('required'), 'a'), createArray(1), createArray(2, 3))]")
    assert isinstance(value, Unknown) and value.nonempty is True
    value = ev("[if(equals(parameters('required'), 'a'), createArray(1), createArray())]")
    assert isinstance(value, Unknown) and value.nonempty is None


def test_equals_with_unknowns():
    assert needs(ev("[equals(parameters('required'), 'x')]")) == {PARAMETER}
    assert ev("[equals(parameters('required'), parameters('required'))]") is True  # same symbolic value


# ------------------------------------------------------------------------------- collections

@pytest.mark.parametrize("expression, expected", [
    ("[empty(parameters('empty'))]", True),
    ("[empty(null())]", True),
    ("[length(createObject('a', 1, 'b', 2))]", 2),
    ("[contains(createArray('a', 'b'), 'b')]", True),
    ("[contains(createObject('Key', 1), 'key')]", True),
    ("[contains('abc', 'B')]", False),  # case-sensitive for strings
    ("[union(createArray(1, 2), createArray(2, 3))]", [1, 2, 3]),
    ("[union(createObject('a', 1, 'b', 2), createObject('b', 3))]", {"a": 1, "b": 3}),
    ("[intersection(createArray(1, 2, 3), createArray(3, 2))]", [2, 3]),
    ("[first(createArray(5, 6))]", 5),
    ("[last('abc')]", "c"),
    ("[take(createArray(1, 2, 3), 2)]", [1, 2]),
    ("[skip(createArray(1, 2, 3), 2)]", [3]),
    ("[array('x')]", ["x"]),
    ("[json('null')]", None),
    ("[json('{\"a\": [1]}').a]", [1]),
    ("[range(3, 2)]", [3, 4]),
    ("[tryGet(createObject('a', createObject('b', 1)), 'a', 'b')]", 1),
    ("[tryGet(createObject('a', 1), 'z')]", None),
    ("[flatten(createArray(createArray(1), createArray(2)))]", [1, 2]),
    ("[objectKeys(createObject('a', 1))]", ["a"]),
    ("[join(createArray('a', 'b'), ',')]", "a,b"),
    ("[max(createArray(1, 5, 3))]", 5),
    ("[add(div(-7, 2), mod(-7, 2))]", -4),  # .NET: division truncates toward zero, -3 + -1
])
def test_collection_and_number_functions(expression, expected):
    assert ev(expression) == expected


def test_unknown_elements_do_not_hide_a_known_length():
    value = ev("[createArray(parameters('required'))]")
    assert isinstance(value, list) and len(value) == 1 and isinstance(value[0], Unknown)
    assert ev("[length(createArray(parameters('required'), 2))]") == 2
    assert ev("[empty(createArray(parameters('required')))]") is False


def test_union_with_unknowns_remembers_non_empty():
    value = ev("[union(parameters('requiredList'), createArray('x'))]")
    assert isinstance(value, Unknown) and value.nonempty is True
    assert ev("[empty(union(parameters('requiredList'), createArray('x')))]") is False
    assert needs(ev("[empty(parameters('requiredList'))]")) == {PARAMETER}


def test_union_of_nested_objects_is_not_guessed():
    value = ev("[union(createObject('a', createObject('x', 1)), createObject('a', createObject('y', 2)))]")
    assert isinstance(value["a"], Unknown)


# ------------------------------------------------------------------------ deployment context

def test_context_fields_are_unknown_unless_configured():
    tenant = ev("[subscription().tenantId]")
    assert needs(tenant) == {CONTEXT}
    assert same_text(tenant, ev("[tenant().tenantId]")) is True  # one tenant
    assert needs(ev("[resourceGroup().location]")) == {CONTEXT}
    context = DeploymentContext.from_target(DeploymentTarget(subscription="sub-1", resource_group="rg-1",
                                                              location="westeurope", tenant="tenant-1"))
    assert ev("[resourceGroup().location]", context=context) == "westeurope"
    assert ev("[subscription().tenantId]", context=context) == "tenant-1"
    assert ev("[resourceGroup().id]", context=context) == "/subscriptions/sub-1/resourceGroups/rg-1"


def test_every_call_of_a_context_function_returns_its_own_object_from_its_own_context():
    # Values are memoised and measured by identity: what one call returns is not the object the
    # next call returns, and a nested deployment's context answers with its own fields.
    context = DeploymentContext.from_target(DeploymentTarget(subscription="sub-1", resource_group="rg-1",
                                                              location="westeurope", tenant="tenant-1"))
    scope = standalone_scope(Template.from_json(TEMPLATE), None, context)
    first, second = evaluate("[resourceGroup()]", scope), evaluate("[resourceGroup()]", scope)
    assert first["name"] == second["name"] == "rg-1" and first["properties"] == {"provisioningState": "Succeeded"}
    assert first is not second and first["properties"] is not second["properties"]
    first["properties"]["provisioningState"] = "changed"
    assert evaluate("[resourceGroup().properties.provisioningState]", scope) == "Succeeded"
    nested = context.nested("sub-2", "rg-2", lambda: "inner", "root/resources/0#0")
    inner = standalone_scope(Template.from_json(TEMPLATE), None, nested)
    assert evaluate("[resourceGroup().id]", inner) == "/subscriptions/sub-2/resourceGroups/rg-2"
    assert evaluate("[subscription().subscriptionId]", inner) == "sub-2"
    assert needs(evaluate("[resourceGroup().location]", inner)) == {CONTEXT}
    assert evaluate("[resourceGroup().id]", scope) == "/subscriptions/sub-1/resourceGroups/rg-1"
    assert evaluate("[deployment().name]", inner) == "inner"
    assert evaluate("[subscription().subscriptionId]", scope) == "sub-1"


# --------------------------------------------------------------------------------------- ids

def test_resource_id_keeps_type_and_names_when_the_scope_is_unknown():
    ref = ev("[resourceId('Microsoft.KeyVault/vaults', parameters('name'))]")
    assert isinstance(ref, ResourceRef)
    assert ref.type == "Microsoft.KeyVault/vaults" and ref.names == ("kv",) and ref.name == "kv"
    child = ev("[resourceId('rg-other', 'Microsoft.KeyVault/vaults/accessPolicies', 'kv', 'add')]")
    assert child.names == ("kv", "add") and child.resource_group == "rg-other"
    context = DeploymentContext.from_target(DeploymentTarget(subscription="s", resource_group="r"))
    assert ev("[resourceId('Microsoft.KeyVault/vaults', 'kv')]", context=context) == \
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv"
    assert ev("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'x')]", context=context) == \
        "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/x"
    assert ev("[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]") == \
        "/providers/Microsoft.Management/managementGroups/mg"


def test_resource_id_with_wrong_segments_is_invalid():
    assert needs(ev("[resourceId('Microsoft.KeyVault/vaults/accessPolicies', 'kv')]")) == {INVALID}


def test_the_same_resource_id_twice_is_the_same_symbolic_value():
    a = ev("[resourceId('Microsoft.KeyVault/vaults', parameters('required'))]")
    b = ev("[resourceId('Microsoft.KeyVault/vaults', parameters('required'))]")
    assert a.key == b.key
    assert same_text(a.name, b.name) is True


# ----------------------------------------------------------------------------------- runtime

def test_reference_keeps_its_target_and_property_path():
    value = ev("[reference(resourceId('Microsoft.KeyVault/vaults', 'kv'), '2023-07-01').accessPolicies]")
    assert isinstance(value, RuntimeValue)
    assert value.function == "reference" and value.path == ("accessPolicies",)
    assert isinstance(value.target, ResourceRef) and value.target.names == ("kv",)
    assert value.api_version == "2023-07-01"
    assert needs(value) == {RUNTIME}
    keys = ev("[listKeys(resourceId('Microsoft.Storage/storageAccounts', 'st'), '2023-01-01').keys[0].value]")
    assert isinstance(keys, RuntimeValue) and keys.path == ("keys", 0, "value")
    # What it reads is part of how it is shown and of its identity.
    assert keys.reason == RuntimeValue(keys.function, keys.target, path=keys.path).reason
    assert "listKeys(resourceId('Microsoft.Storage/storageAccounts', st)).keys.0.value" in keys.reason
    assert keys.key and keys.key.endswith(":keys.0.value")
    assert keys.key == ev("[listKeys(resourceId('Microsoft.Storage/storageAccounts', 'st'), '2023-01-01')"
                          ".KEYS[0].value]").key != ev("[listKeys(resourceId('Microsoft.Storage/storageAccounts', "
                                                       "'st'), '2023-01-01').keys[1].value]").key


def test_opaque_functions_are_unknown_but_deterministic_ones_compare_equal():
    a, b = ev("[uniqueString(resourceGroup().id)]"), ev("[uniqueString(resourceGroup().id)]")
    assert needs(a) == {OPAQUE} and a.key == b.key
    x, y = ev("[newGuid()]"), ev("[newGuid()]")
    assert x.key is None and same_text(x, y) is None


def test_unsupported_function_is_unknown_with_its_name():
    value = ev("[notAFunction(1)]")
    assert "notAFunction" in value.reason


# ----------------------------------------------------------------------------------- lambdas

@pytest.mark.parametrize("expression, expected", [
    ("[map(range(0, 3), lambda('i', mul(lambdaVariables('i'), 2)))]", [0, 2, 4]),
    ("[filter(createArray(1, 2, 3), lambda('x', greater(lambdaVariables('x'), 1)))]", [2, 3]),
    ("[reduce(createArray(1, 2, 3), 0, lambda('acc', 'x', add(lambdaVariables('acc'), lambdaVariables('x'))))]", 6),
    ("[toObject(createArray('a', 'b'), lambda('k', lambdaVariables('k')), lambda('k', 1))]", {"a": 1, "b": 1}),
    ("[sort(createArray(3, 1, 2), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))]", [1, 2, 3]),
])
def test_lambda_functions(expression, expected):
    assert ev(expression) == expected


def test_user_defined_functions():
    template = {"functions": [{"namespace": "contoso", "members": {"vaultName": {
        "parameters": [{"name": "base", "type": "string"}],
        "output": {"type": "string", "value": "[concat('kv-', parameters('base'))]"}}}}]}
    assert ev("[contoso.vaultName('ml')]", template=template) == "kv-ml"


# ------------------------------------------------------------------------------------ bounds

def test_copy_counts_over_the_arm_limit_are_unknown():
    template = {"variables": {"copy": [{"name": "big", "count": MAX_COPY + 1, "input": 1}]}}
    value = ev("[variables('big')]", template=template)
    assert needs(value) == {LIMIT} and str(MAX_COPY) in value.reason


def test_work_per_template_is_bounded():
    # 800 x 800 nested copy loops: 640,000 evaluations of the inner input.
    template = {"variables": {"copy": [{"name": "grid", "count": 800, "input": {
        "copy": [{"name": "row", "count": 800, "input": "[concat('cell', copyIndex('row'))]"}]}}]}}
    scope = standalone_scope(Template.from_json(template))
    scope.frame.session = Session(max_steps=5_000)
    value = evaluate("[variables('grid')]", scope)
    assert scope.frame.session.exhausted
    assert find_unknown(value) is not None and LIMIT in {k for k, _ in find_unknown(value).needs}


def test_deeply_nested_values_are_bounded():
    value: object = "x"
    for _ in range(400):
        value = [value]
    result = ev(value)
    assert find_unknown(result) is not None


def test_unknown_has_no_truth_value():
    with pytest.raises(TypeError):
        bool(ev("[parameters('required')]"))


_ATOMS = ["parameters('name')", "parameters('required')", "variables('full')", "'s'", "1", "createArray()",
          "resourceGroup().id", "reference('x').y", "json('null')", "copyIndex()", "createObject('a', 1)"]
_FUNCS = ["concat", "format", "if", "equals", "union", "length", "empty", "contains", "split", "replace",
          "toLower", "take", "coalesce", "and", "not", "createArray", "resourceId", "uniqueString", "first",
          "substring", "json", "string", "int", "add", "tryGet", "range", "array", "skip", "padLeft"]


@st.composite
def _expressions(draw, depth=0):
    if depth > 3 or draw(st.booleans()):
        return draw(st.sampled_from(_ATOMS))
    name = draw(st.sampled_from(_FUNCS))
    args = draw(st.lists(_expressions(depth=depth + 1), min_size=0, max_size=4))
    return f"{name}({', '.join(args)})"


@settings(max_examples=400, deadline=None)
@given(_expressions())
def test_any_expression_evaluates_without_raising(body):
    from preflight.arm.expressions import Invalid, Node, compile_string
    compiled = compile_string(f"[{body}]")
    assert isinstance(compiled, Node) and not isinstance(compiled, Invalid)  # it reaches evaluation
    result = ev(f"[{body}]")
    assert result is None or isinstance(result, (str, int, float, bool, list, dict, Unknown))


def test_value_size_counts_leaves_and_sizes_measured_before_alike():
    """A function's arguments (leaves, and values measured before) are summed without the walk;
    the size and the work charged are those of the walk."""
    from preflight.arm.values import value_size

    measured = [1, 2, 3]
    known = {id(measured): (measured, 4)}
    assert value_size(["x" * 130, 1, measured], known, 100) == (1 + 3 + 1 + 4, 6)
    assert value_size({"k": "v", "m": measured}, known, 100) == (1 + 3 + 4, 8)
    assert value_size([["x" * 130, 1]], {}, 100) == (1 + 5, 6)  # the walk: 4 items read twice, 1 twice
    assert value_size(["a"] * 5, {}, 3) == (6, 10)  # over the limit, reported as the walk did
    looped: list = [1]
    looped.append(looped)
    assert value_size(looped, {}, 100)[0] == 101  # a value that contains itself
