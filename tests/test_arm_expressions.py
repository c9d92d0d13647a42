"""The `[...]` expression language: what is an expression, the parser, the tree, bounds."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preflight.arm.expressions import (MAX_DEPTH, Call, Index, Invalid, Literal, Member, compile_string, is_expression,
                                       parse, to_text, walk)


@pytest.mark.parametrize("text, expected", [
    ("plain text", "plain text"),
    ("[[not an expression]", "[not an expression]"),  # the escape drops one bracket
    ("[[parameters('x')]", "[parameters('x')]"),
    (" [parameters('x')]", " [parameters('x')]"),  # leading blank: a literal
    ("[concat('a'", "[concat('a'"),  # no closing bracket: a literal
    ("", ""),
])
def test_literals_stay_literal(text, expected):
    assert compile_string(text) == expected


def test_is_expression_follows_the_schema_pattern():
    assert is_expression("[variables('x')]")
    assert not is_expression("[[variables('x')]")
    assert not is_expression("variables('x')")
    assert not is_expression("[")


def test_call_with_nested_arguments_and_escaped_quote():
    tree = compile_string("[concat('it''s', parameters('name'), 42, -1)]")
    assert tree == Call("concat", (Literal("it's"), Call("parameters", (Literal("name"),)), Literal(42), Literal(-1)))


def test_function_names_are_case_insensitive():
    a = compile_string("[ResourceGroup().Location]")
    b = compile_string("[resourcegroup().Location]")
    assert a == b
    assert isinstance(a, Member) and a.target.name == "resourcegroup" and a.target.spelling == "ResourceGroup"


def test_member_and_index_chains():
    tree = compile_string("[reference(variables('id'), '2023-07-01').properties.accessPolicies[0]['objectId']]")
    assert isinstance(tree, Index) and tree.index == Literal("objectId")
    assert isinstance(tree.target, Index) and tree.target.index == Literal(0)
    member = tree.target.target
    assert isinstance(member, Member) and member.name == "accessPolicies"
    assert isinstance(member.target, Member) and member.target.target.name == "reference"


def test_raw_newlines_and_blanks_inside_an_expression():
    tree = compile_string("[\n    subscription().tenantId\n  ]")
    assert tree == Member(Call("subscription", ()), "tenantId")


def test_user_defined_function_with_namespace():
    tree = compile_string("[contoso.uniqueName(parameters('p'))]")
    assert isinstance(tree, Call) and tree.name == "contoso.uniquename"


def test_bare_true_false_null_are_literals():
    assert compile_string("[if(true, null, false)]") == Call("if", (Literal(True), Literal(None), Literal(False)))


@pytest.mark.parametrize("text, message", [
    ("[concat('a',]", "expected a value"),
    ("[concat('a' 'b')]", "expected ')'"),
    ("[parameters('x')", None),  # not an expression at all
    ("[concat('unterminated)]", "unterminated string"),
    ("[foo]", "expected '(' after function name"),
    ("[a(1)) ]", "after the expression"),
    ("[a(1)#]", "unexpected character"),
])
def test_malformed_expressions_compile_to_invalid(text, message):
    compiled = compile_string(text)
    if message is None:
        assert compiled == text
    else:
        assert isinstance(compiled, Invalid) and message in compiled.error


def test_nesting_is_bounded_and_never_raises():
    deep = "[" + "not(" * (MAX_DEPTH + 5) + "true()" + ")" * (MAX_DEPTH + 5) + "]"
    compiled = compile_string(deep)
    assert isinstance(compiled, Invalid) and "nested deeper" in compiled.error
    ok = "[" + "not(" * 10 + "true()" + ")" * 10 + "]"
    assert isinstance(compile_string(ok), Call)


def test_to_text_renders_a_tree_back():
    text = "concat('it''s', parameters('a'), reference(x()).b[0], true(), null())"
    assert to_text(parse(text)) == text


def test_walk_visits_every_node():
    tree = parse("if(equals(parameters('a'), 'b'), variables('c'), 1)")
    names = [n.name for n in walk(tree) if isinstance(n, Call)]
    assert names == ["if", "equals", "parameters", "variables"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="[]()',.abcdeptr0123456789 \n", max_size=60))
def test_compile_string_never_raises(text):
    result = compile_string(text)
    assert isinstance(result, (str, Call, Literal, Member, Index, Invalid))
    # each text is read as what it is: an expression becomes a tree (or Invalid), anything else
    # stays text (without the `[[` escape's first bracket)
    if is_expression(text):
        assert not isinstance(result, str)
    else:
        assert result == (text[1:] if text.startswith("[[") and text.endswith("]") else text)


def test_expression_caches_stay_small_whatever_the_number_of_templates():
    """The caches by expression text live as long as a worker process, which checks thousands of
    files: bounded to what a few hundred templates fill, memory stays flat in the scan's size."""
    from preflight.arm import expressions, references

    for cached in (expressions._compile_expression, references._text_facts, references._candidates):
        cached.cache_clear()
        for i in range(3000):
            cached(f"[parameters('p{i}')]")
        assert cached.cache_info().currsize <= 1024
        assert cached(f"[parameters('p{2999}')]") is cached(f"[parameters('p{2999}')]")


def test_plain_strings_take_no_room_in_the_expression_cache():
    from preflight.arm import expressions

    expressions._compile_expression.cache_clear()
    assert compile_string("plain text") == "plain text"
    assert compile_string("[[escaped]") == "[escaped]"
    assert expressions._compile_expression.cache_info().currsize == 0
    assert compile_string("[parameters('a')]") is compile_string("[parameters('a')]")
    assert expressions._compile_expression.cache_info().currsize == 1
