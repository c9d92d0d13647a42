"""The Bicep parser (preflight.bicep.syntax): each construct of the language as the docs define
it, read into the tree the compiler maps; unreadable declarations skipped one at a time; the
errors that make a whole file invalid."""
from __future__ import annotations

import textwrap

import pytest

from preflight.arm.deployments import deployed_resources
from preflight.arm.values import Unknown
from preflight.bicep.syntax import Decl, X, parse, tokenize
from preflight.documents import load_document
from preflight.engine import Options, scan


def tree(source: str, bicepparam: bool = False):
    parsed = parse(textwrap.dedent(source), bicepparam)
    assert parsed.problems == [], parsed.problems
    return parsed.decls


def one(source: str) -> Decl:
    [decl] = tree(source)
    return decl


def value(expression: str) -> str:
    """The tree of one expression, as text."""
    return repr(one(f"var v = {expression}\n").value)


def load(tmp_path, source, name="main.bicep"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return load_document(str(path), path.read_bytes())


VAULT = """
resource {symbol} 'Microsoft.KeyVault/vaults@2023-07-01' = {{
  name: '{name}'
  location: 'westeurope'
  properties: {{
    tenantId: subscription().tenantId
    sku: {{
      family: 'A'
      name: 'standard'
    }}
    enablePurgeProtection: true
    networkAcls: {{
      defaultAction: 'Deny'
    }}
    accessPolicies: []
  }}
}}
"""


# ------------------------------------------------------------------------- declarations


def test_params_and_typed_vars():
    p, v, w = tree("""
        @description('how many')
        param count int = 2
        var plain = count
        var typed string = 'x'
        """)
    assert (p.kind, p.name, p.type, repr(p.value), p.name_pos) == ("param", "count", "int", "lit(2)", (3, 7))
    assert repr(p.decorators) == "[call('description', [lit('how many')])]"
    assert (v.kind, repr(v.value)) == ("var", "ident('count')")
    assert (w.name, repr(w.value)) == ("typed", "lit('x')")


def test_resource_existing_scope_nested_child_and_parent():
    kv, secret = tree("""
        resource kv 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
          name: 'shared'
          scope: resourceGroup('security')
          @description('a child')
          resource grant 'accessPolicies' = {
            name: 'add'
          }
        }
        resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
          parent: kv
          name: 's'
        }
        """)
    assert (kv.kind, kv.type, kv.existing) == ("resource", "Microsoft.KeyVault/vaults@2023-07-01", True)
    assert kv.extra == (2, 13)  # the type's position
    props = kv.value.a
    assert [p.key for p in props] == ["name", "scope", None]
    assert repr(props[1].value) == "call('resourceGroup', [lit('security')])"
    child = props[2].value
    assert isinstance(child, Decl) and (child.name, child.type, child.pos) == ("grant", "accessPolicies", (6, 3))
    assert repr(child.decorators) == "[call('description', [lit('a child')])]"
    assert not secret.existing and repr(secret.value.a[0]) == "Prop('parent': ident('kv'))"


@pytest.mark.parametrize("path", ["modules/kv.bicep", "br:contoso.azurecr.io/bicep/kv:1.0",
                                  "br/public:avm/res/key-vault/vault:0.9.0", "ts:sub/rg/spec:1.0"])
def test_module_paths(path):
    m = one(f"module kv '{path}' = {{\n  name: 'kv'\n  params: {{\n    n: 1\n  }}\n}}\n")
    assert (m.kind, m.name, m.type, m.extra) == ("module", "kv", path, (1, 11))
    assert [p.key for p in m.value.a] == ["name", "params"]


def test_outputs_are_read_with_their_values():
    a, b = tree("""
        output id string = kv.id
        output store resource 'Microsoft.Storage/storageAccounts@2023-01-01' = sa
        """)
    assert (a.kind, a.name, a.value.kind, a.value.b, b.name, b.value.a) == ("output", "id", "mem", "id", "store", "sa")


def test_user_defined_types():
    decls = tree("""
        @export()
        @sealed()
        type config = {
          @description('the name')
          name: string
          size: ('S' | 'M')?
          tags: {
            *: string
          }
        }
        type pair = [string, int]
        type names = string[]
        type choice = 'a' | 'b'
        type maybe = config?
        @discriminator('kind')
        type shape = circle | square
        type vcores = resourceInput<'Microsoft.Sql/managedInstances@2023-08-01-preview'>.properties.vCores
        param cores resourceOutput<'Microsoft.Sql/managedInstances@2023-08-01-preview'>.properties.vCores?
        param picked choice = 'a'
        """)
    types = {d.name: d.type for d in decls}
    assert types["config"].startswith("{") and types["config"].endswith("}") and "*: string" in types["config"]
    assert types["pair"] == "[string, int]" and types["names"] == "string[]" and types["maybe"] == "config?"
    assert types["choice"] == "'a' | 'b'" and types["shape"] == "circle | square"
    assert types["vcores"] == "resourceInput<'Microsoft.Sql/managedInstances@2023-08-01-preview'>.properties.vCores"
    assert types["cores"].endswith(".properties.vCores?")
    assert [repr(d) for d in decls[0].decorators] == ["call('export', [])", "call('sealed', [])"]


def test_resource_derived_parameter_types_compile_without_a_guessed_type(tmp_path):
    doc = load(tmp_path, """
        param vCores resourceInput<'Microsoft.Sql/managedInstances@2023-08-01-preview'>.properties.vCores
        param tags resourceInput<'Microsoft.Sql/managedInstances@2023-08-01-preview'>.tags?
        """)
    assert doc.error is None
    assert doc.data["parameters"] == {"vCores": {}, "tags": {"nullable": True}}


def test_imports():
    a, b, c, d = tree("""
        import { first, second as other } from 'shared.bicep'
        import {
          lockType
          roleAssignmentType, third
        } from 'br/public:avm/utl/types/avm-common-types:0.6.1'
        import * as ns from 'types.bicep'
        import 'kubernetes@1.0.0' as k8s
        """)
    assert (a.kind, a.type, a.extra) == ("import", "shared.bicep", ["first", "other"])
    assert b.extra == ["lockType", "roleAssignmentType", "third"]
    assert (c.type, c.extra) == ("types.bicep", ["ns"])
    assert (d.type, d.extra) == ("kubernetes@1.0.0", ["k8s"])


def test_extension_statements_are_noted_and_skipped():
    parsed = parse("extension microsoftGraph\nextension 'br:mcr.microsoft.com/bicep/ext:1.0' with {\n  a: 1\n} as ext\n"
                   "var x = 1\n")
    assert [d.name for d in parsed.decls] == ["x"]
    assert [(p.line, p.fatal) for p in parsed.problems] == [(1, False), (2, False)]
    assert "`extension`" in parsed.problems[0].message


def test_functions_and_lambdas():
    f, v = tree("""
        func greet(name string, times int) string => '${name}!'
        var v = sort(xs, (a, b) => a.n < b.n)
        """)
    assert (f.kind, f.name, f.extra, repr(f.value)) == ("func", "greet", ["name", "times"], "str([ident('name'), '!'])")
    assert repr(v.value) == ("call('sort', [ident('xs'), lam(['a', 'b'], bin('<', mem(ident('a'), 'n', False), "
                             "mem(ident('b'), 'n', False)))])")
    assert value("map(xs, x => x.a && x.b > 1)") == (
        "call('map', [ident('xs'), lam(['x'], bin('&&', mem(ident('x'), 'a', False), "
        "bin('>', mem(ident('x'), 'b', False), lit(1))))])")
    assert value("() => 1") == "lam([], lit(1))"


def test_for_loops_with_index_and_conditions():
    r = one("""
        @batchSize(2)
        resource sa 'Microsoft.Storage/storageAccounts@2023-01-01' = [for (n, i) in names: if (i > 0) {
          name: n
        }]
        """)
    loop = r.value
    assert (loop.kind, loop.a, loop.b, repr(loop.c)) == ("for", "n", "i", "ident('names')")
    assert loop.d.kind == "if" and repr(loop.d.a) == "bin('>', ident('i'), lit(0))"
    assert repr(r.decorators) == "[call('batchSize', [lit(2)])]"
    m = one("module m 'm.bicep' = [\n  for x in range(0, 2): {\n    name: 'm${x}'\n  }\n]\n")
    assert m.value.kind == "for" and m.value.a == "x" and m.value.b is None
    c = one("@onlyIfNotExists()\nresource r 'A.B/c@2020-01-01' = if (deploy) {\n  name: 'r'\n}\n")
    assert c.value.kind == "if" and repr(c.decorators) == "[call('onlyIfNotExists', [])]"


def test_target_scope_and_metadata():
    t, m = tree("targetScope = 'subscription'\nmetadata owner = {\n  team: 'x'\n}\n")
    assert (t.kind, t.value, m.kind, m.name) == ("targetScope", "subscription", "metadata", "owner")


# -------------------------------------------------------------------------- expressions


@pytest.mark.parametrize("expression, expected", [
    ("'''\nline ${x}\n  two'''", "lit('line ${x}\\n  two')"),
    ("'a${b}c${'${d}'}'", "str(['a', ident('b'), 'c', str([ident('d')])])"),
    ("'it\\'s \\\\ \\n \\t \\$ \\u{41} ${x}'", "str([\"it's \\\\ \\n \\t $ A \", ident('x')])"),
    ("'http://host//path' // a comment", "lit('http://host//path')"),
    ("a.?b ?? c[?0]", "bin('??', mem(ident('a'), 'b', True), idx(ident('c'), lit(0), True))"),
    ("foo.?bar!", "mem(ident('foo'), 'bar', True)"),
    ("existingThing.properties.x!", "mem(mem(ident('existingThing'), 'properties', False), 'x', False)"),
    ("xs[^1]", "idx(ident('xs'), bin('-', call('length', [ident('xs')]), lit(1)), False)"),
    ("c ? a : b ? d : e", "tern(ident('c'), ident('a'), tern(ident('b'), ident('d'), ident('e')))"),
    ("!a.b", "un('!', mem(ident('a'), 'b', False))"),
    ("-n", "un('-', ident('n'))"),
    ("-1", "lit(-1)"),
    ("a || b && c == d + e * f", "bin('||', ident('a'), bin('&&', ident('b'), bin('==', ident('c'), "
     "bin('+', ident('d'), bin('*', ident('e'), ident('f'))))))"),
    ("a - b - c", "bin('-', bin('-', ident('a'), ident('b')), ident('c'))"),
    ("a ?? b || c", "bin('??', ident('a'), bin('||', ident('b'), ident('c')))"),
    ("a < b != c >= d", "bin('!=', bin('<', ident('a'), ident('b')), bin('>=', ident('c'), ident('d')))"),
    ("a =~ b && c !~ d", "bin('&&', bin('=~', ident('a'), ident('b')), bin('!~', ident('c'), ident('d')))"),
    ("(a || b).c", "mem(paren(bin('||', ident('a'), ident('b'))), 'c', False)"),
    ("sys.concat('a') == az.resourceGroup().location", "bin('==', call('concat', [lit('a')], ident('sys')), "
     "mem(call('resourceGroup', [], ident('az')), 'location', False))"),
    ("parent::child.id", "mem(res(ident('parent'), 'child'), 'id', False)"),
    ("[\n  1\n  -1\n  'x', 'y'\n]", "arr([lit(1), lit(-1), lit('x'), lit('y')])"),
    ("{ a: 1, 'b-c': 2 }", "obj([Prop('a': lit(1)), Prop('b-c': lit(2))])"),
    ("{\n  ...base\n  ...resourceGroup().tags\n  x: 1\n}", "obj([Prop(None: spread(ident('base'))), "
     "Prop(None: spread(mem(call('resourceGroup', []), 'tags', False))), Prop('x': lit(1))])"),
    ("[\n  ...(cond ? a : [])\n  'z'\n]", "arr([spread(paren(tern(ident('cond'), ident('a'), arr([])))), lit('z')])"),
    ("c\n  ? {\n      a: 1\n    }\n  : null", "tern(ident('c'), obj([Prop('a': lit(1))]), lit())"),
    ("concat(\n  a,\n  b\n)", "call('concat', [ident('a'), ident('b')])"),
    ("(a\n  && b)", "paren(bin('&&', ident('a'), ident('b')))"),
    ("[for (x, i) in xs: x]", "for('x', 'i', ident('xs'), ident('x'))"),
])
def test_expressions(expression, expected):
    assert value(expression) == expected


def test_expression_positions():
    v = one("var v = [\n  a.b\n  f(x)[0]\n]\n").value
    assert [item.pos for item in v.a] == [(2, 3), (3, 3)]


@pytest.mark.parametrize("expression, expected", [
    ("{\n  ...base\n  b: 2\n}", {"a": 1, "b": 2}),
    ("{\n  b: 2\n  ...(flag ? base : {})\n}", {"b": 2}),
    ("[\n  ...list\n  'z'\n]", ["x", "z"]),
    ("list[^1]", "x"),
    ("base.?a!", 1),
])
def test_new_constructs_evaluate(tmp_path, expression, expected):
    doc = load(tmp_path, f"""
        param flag bool = false
        param base object = {{
          a: 1
        }}
        param list array = [
          'x'
        ]
        resource r 'A.B/c@2020-01-01' = {{
          name: 'r'
          properties: {{
            v: {textwrap.indent(expression, '            ').lstrip()}
          }}
        }}
        """)
    assert doc.error is None and not doc.cache["bicep.notes"], doc.cache.get("bicep.notes")
    assert deployed_resources(doc, None)[0].get("properties/v") == expected


def test_a_spread_at_the_top_of_a_resource_body_makes_the_body_unknown(tmp_path):
    doc = load(tmp_path, """
        var common = {
          properties: {
            accessPolicies: [
              {
                objectId: 'x'
              }
            ]
          }
        }
        resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {
          name: 'kv'
          ...common
        }
        """)
    [vault] = deployed_resources(doc, None)
    assert isinstance(vault.get("properties"), Unknown)  # not a vault without access policies


# --------------------------------------------------------------------------- .bicepparam


def test_bicepparam_statements():
    using, extends, p, v = tree("using 'main.bicep'\nextends 'base.bicepparam'\nparam name = 'x'\nvar v = 1\n", True)
    assert (using.kind, using.value) == ("using", "main.bicep")
    assert (extends.kind, extends.value) == ("extends", "base.bicepparam")
    assert (p.kind, p.name, repr(p.value), p.name_pos) == ("param", "name", "lit('x')", (3, 7))
    assert (v.kind, v.name) == ("var", "v")
    [none] = tree("using none\n", True)
    assert (none.kind, none.value) == ("using", None)


# ------------------------------------------------------------------------ unreadable parts


def test_one_unreadable_declaration_is_skipped_and_another_vault_is_still_checked(tmp_path):
    (tmp_path / "main.bicep").write_text(
        "param prefix string = 'kv'\n"
        + VAULT.format(symbol="first", name="kv-first").replace("location: 'westeurope'", "location: 'west' |> x")
        + VAULT.format(symbol="second", name="kv-second"))
    found = scan([str(tmp_path)], Options()).findings
    assert sorted(f.rule for f in found if f.rule != "KV019") == ["KV001", "PF010"]
    kv001 = next(f for f in found if f.rule == "KV001")
    assert "'kv-second'" in kv001.message
    note = next(f for f in found if f.rule == "PF010")
    assert note.line == 3 and "`resource first`" in note.message and "5:20" in note.message


def test_unreadable_declarations_leave_unknown_values_and_reading_resumes(tmp_path):
    parsed = parse("var a = 1\nvar broken = a |> b\nparam p string = 'x' ~ 1\n@description('d')\nvar c = a\n")
    assert [(d.kind, d.name) for d in parsed.decls] == [("var", "a"), ("var", "broken"), ("param", "p"), ("var", "c")]
    assert parsed.decls[1].value.kind == "bad" and parsed.decls[2].value.kind == "bad"
    assert parsed.decls[3].decorators and parsed.error is None
    assert [(p.line, p.fatal) for p in parsed.problems] == [(2, False), (3, False)]


def test_a_property_named_like_a_keyword_is_no_resync_point():
    parsed = parse("resource r 'A.B/c@2020-01-01' = {\n  name: 'r' |> x\ntype: 'y'\n}\nvar ok = 1\n")
    assert [p.line for p in parsed.problems] == [1] and parsed.error is None
    assert parsed.decls[-1].name == "ok"


@pytest.mark.parametrize("source, line, column, message", [
    ("var x = 'open\n", 1, 9, "unterminated string"),
    ("var x = '''open\n", 1, 9, "unterminated string"),
    ("var x = '${a'\n", 1, 9, "unterminated string"),
    ("/* open\nvar x = 1\n", 1, 1, "unterminated comment"),
    ("var x = 1\nthis is not bicep\nvar y = 2\n", 2, 1, "unexpected `this is not bicep`"),
    ("var x = {\n  a: [\n    1\n}\n", 2, 6, "`[` is not closed"),
    ("var x = f(1))\n", 1, 13, "unexpected `)`"),
])
def test_errors_that_make_the_file_invalid(source, line, column, message):
    error = parse(source).error
    assert error is not None and (error.line, error.col) == (line, column)
    assert error.message == f"invalid Bicep: {message}"


def test_a_missing_type_is_one_unreadable_declaration(tmp_path):
    doc = load(tmp_path, "param abc\nparam name string\n")
    assert doc.error is None and list(doc.data["parameters"]) == ["abc", "name"]
    [(line, _, message)] = doc.cache["bicep.notes"]
    assert line == 1 and "`param abc`" in message


def test_tokens_keep_lines_and_columns_across_comments_and_multiline_strings():
    tokens, error = tokenize("var a = '''x\ny''' /* c\n */ var b = 1 // end\n#disable-next-line BCP1\nvar é")
    assert error is None
    assert [(t[0], t[2], t[3]) for t in tokens if t[0] in ("id", "ml", "bad")] == [
        ("id", 1, 1), ("id", 1, 5), ("ml", 1, 9), ("id", 3, 5), ("id", 3, 9), ("id", 5, 1), ("bad", 5, 5)]


def test_nesting_deeper_than_the_limit_is_one_unreadable_declaration():
    parsed = parse("var deep = " + "(" * 500 + "1" + ")" * 500 + "\nvar ok = 1\n")
    assert parsed.error is None and [d.name for d in parsed.decls] == ["deep", "ok"]
    assert "nested too deeply" in parsed.problems[0].message
    assert isinstance(parsed.decls[0].value, X) and parsed.decls[0].value.kind == "bad"
