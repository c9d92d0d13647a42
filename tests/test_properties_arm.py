"""Property-based tests of the ARM expression language: on any string the parser returns a tree
or its own error, and on any expression and any template the evaluator returns a value or an
Unknown; arbitrary templates go through every ARM and Key Vault rule without an internal error."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preflight.arm.evaluator import _SCOPED, evaluate, standalone_scope
from preflight.arm.expressions import ExpressionError, Invalid, Node, compile_string, parse, to_text
from preflight.arm.functions import FUNCTIONS, Lambda
from preflight.arm.template import Template
from preflight.arm.values import ResourceRef, RuntimeValue, Unknown
from preflight.documents import Kind, load_document
from preflight.contract import REGISTRY, Options
from preflight.rulepacks import load_rule_packs
from preflight.engine import DocumentStore, ScanContext, check_document

# the strategies below are large: hypothesis warns about the size of their repr, which is harmless
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
NAMES = ["a", "b", "c", "kv"]  # parameter and variable names, so that references resolve
FUNCTION_NAMES = sorted(set(FUNCTIONS) | set(_SCOPED) | {"ns.f", "listkeys", "nosuchfunction"})

words = st.text(alphabet="abck-_'. ", max_size=6)
literals = st.one_of(
    st.integers(-10**15, 10**15).map(str),
    st.sampled_from(NAMES + ["Microsoft.KeyVault/vaults", "2022-07-01", "", "full"]).map(lambda s: f"'{s}'"),
    words.map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.sampled_from(["true", "false", "null"]),
)
expressions = st.recursive(literals, lambda inner: st.one_of(
    st.tuples(st.sampled_from(FUNCTION_NAMES), st.lists(inner, max_size=4)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
    st.tuples(inner, st.sampled_from(["name", "id", "properties", "tenantId", "x"])).map(lambda t: f"{t[0]}.{t[1]}"),
    st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
), max_leaves=14)
json_scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
template_values = st.recursive(
    json_scalars | expressions.map(lambda e: f"[{e}]"),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(NAMES + ["copy", "name", "count",
                                                                                         "input", "value", "type"]),
                                                                inner, max_size=4),
    max_leaves=20,
)
LEAVES = (type(None), bool, int, float, str, Unknown, ResourceRef, RuntimeValue, Lambda)


def is_value(result):
    """A JSON value whose parts may be unknown (or runtime or resource references)."""
    stack = [result]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                return False
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif not isinstance(v, LEAVES):
            return False
    return True


def scope_for(parameters, variables):
    data = {"$schema": SCHEMA,
            "parameters": {k: {"type": "object" if isinstance(v, dict) else "string", "defaultValue": v}
                           for k, v in parameters.items()},
            "variables": variables,
            "functions": [{"namespace": "ns", "members": {"f": {"parameters": [{"name": "x", "type": "string"}],
                                                                "output": {"type": "string",
                                                                           "value": "[ns.f(parameters('x'))]"}}}}],
            "resources": []}
    return standalone_scope(Template.from_json(data))


@SETTINGS
@given(st.text(max_size=80) | st.text(alphabet="[]()',.abc01 ", max_size=80))
def test_parser_returns_a_tree_or_its_own_error(text):
    compiled = compile_string(text)
    assert isinstance(compiled, (str, Node))
    if isinstance(compiled, Invalid):
        assert compiled.error
    try:
        assert isinstance(parse(text), Node)
    except ExpressionError as exc:
        assert exc.message and 0 <= exc.offset <= len(text)


@SETTINGS
@given(expressions)
def test_a_rendered_tree_parses_back_to_the_same_text(text):
    tree = compile_string(f"[{text}]")
    if isinstance(tree, Invalid):  # e.g. `true.name.x`, read as a call of user function `true.name`
        return
    rendered = to_text(tree, limit=10**6)  # literals true/false/null render as the functions true() ...
    assert to_text(parse(rendered), limit=10**6) == rendered


@SETTINGS
@given(expressions, st.dictionaries(st.sampled_from(NAMES), template_values, max_size=3),
       st.dictionaries(st.sampled_from(NAMES), template_values, max_size=3))
def test_evaluation_returns_a_value_or_an_unknown(text, parameters, variables):
    result = evaluate(f"[{text}]", scope_for(parameters, variables))
    assert is_value(result), repr(result)[:300]


@SETTINGS
@given(st.text(alphabet="[]()',.abcpv0123456789 ", max_size=60))
def test_evaluating_any_bracketed_text_returns_a_value_or_an_unknown(text):
    result = evaluate(f"[{text}]", scope_for({"a": "x"}, {"b": [1]}))
    assert is_value(result)


load_rule_packs()
ARM_RULES = [r for r in REGISTRY.values() if r.check is not None and Kind.ARM_TEMPLATE in r.kinds]


# An output naming an undeclared parameter: whatever else a template holds, ARM004 reports it, so
# a template whose rules did not run (not classified, or skipped) fails the test.
SENTINEL = {"type": "string", "value": "[parameters('undeclaredSentinel')]"}


def internal_errors(data):
    outputs = data.get("outputs") if isinstance(data.get("outputs"), dict) else {}
    data = dict(data, outputs=dict(outputs, sentinel=SENTINEL))
    doc = load_document("azuredeploy.json", json.dumps(data).encode(), explicit=True)
    assert doc is not None and doc.kind == Kind.ARM_TEMPLATE
    store = DocumentStore(Options())
    store.current = doc
    found = list(check_document(doc, ScanContext(Options(), store), ARM_RULES))
    assert any(f.rule == "ARM004" and f.pointer == "/outputs/sentinel/value" for f in found), found
    return [f.message for f in found if f.rule == "PF003"]


@SETTINGS
@given(st.dictionaries(st.sampled_from(NAMES), template_values, max_size=3),
       st.dictionaries(st.sampled_from(NAMES), template_values, max_size=3),
       st.lists(template_values, max_size=3), template_values, template_values)
def test_arbitrary_templates_never_fail_inside_a_rule(parameters, variables, resources, properties, name):
    data = {"$schema": SCHEMA, "parameters": parameters, "variables": variables,
            "resources": resources + [{"type": "Microsoft.KeyVault/vaults", "apiVersion": "2022-07-01", "name": name,
                                       "copy": {"name": "c", "count": 2}, "properties": properties},
                                      {"type": "Microsoft.MachineLearningServices/workspaces", "name": "w",
                                       "apiVersion": "2023-04-01", "properties": {"keyVault": name}}],
            "outputs": {"o": {"type": "object", "value": properties}}}
    assert internal_errors(data) == []


@SETTINGS
@given(template_values)
def test_any_json_as_a_template_never_fails_inside_a_rule(value):
    assert internal_errors({"$schema": SCHEMA, "resources": [value], "variables": value}) == []
