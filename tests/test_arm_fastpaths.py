"""The shortcuts that keep a large scan fast find exactly what the full work finds."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preflight.arm.deployments import possible_types, template_of
from preflight.arm.expressions import Node, compile_string, template_strings
from preflight.arm.vaults import vault_deployments
from preflight.documents import Document, Kind, load_document
from preflight.contract import Options
from preflight.engine import DocumentStore, ScanContext, scan
from preflight.loaders import join_pointer

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def template(tmp_path, name="azuredeploy.json", **body):
    data = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", **body}
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def findings(path, rule):
    return [f for f in scan([str(path)], Options()).findings if f.rule == rule]


def document(path):
    return load_document(str(path), path.read_bytes())


# ------------------------------------------------------------------ template_strings


def reference_template_strings(value, pointer="", skip_keys=frozenset(), expressions_only=False):
    """The walk as it was written before pointers became lazy: the order to keep."""
    stack = [(value, pointer)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, str):
            compiled = compile_string(v)
            if not expressions_only or isinstance(compiled, Node):
                yield p, compiled
        elif isinstance(v, dict):
            for k, item in v.items():
                if skip_keys and isinstance(k, str) and k.lower() in skip_keys:
                    continue
                if isinstance(item, str):
                    if expressions_only and not (item[:1] == "[" and item[-1:] == "]"):
                        continue
                    compiled = compile_string(item)
                    if not expressions_only or isinstance(compiled, Node):
                        yield join_pointer(p, k), compiled
                elif isinstance(item, (dict, list, Node)) or not expressions_only:
                    stack.append((item, join_pointer(p, k)))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                if isinstance(item, (dict, list, Node)) or (isinstance(item, str) and (
                        not expressions_only or (item[:1] == "[" and item[-1:] == "]"))):
                    stack.append((item, join_pointer(p, i)))
        elif isinstance(v, Node):
            yield p, v


_strings = st.sampled_from(["x", "[[x]", "[]", "[", "[x", "[concat('a', parameters('b'))]", "[parameters('a'",
                            "a/b~c", "[variables('v')]", "", "]"])
_keys = st.sampled_from(["a", "Metadata", "b/c", "~", "properties", "metadata"])
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _strings | st.builds(compile_string, st.just("[f(1)]")),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(_json, st.booleans(), st.booleans())
def test_template_strings_yields_what_the_eager_walk_yielded(value, expressions_only, skip):
    skip_keys = frozenset({"metadata"}) if skip else frozenset()
    assert list(template_strings(value, "/r", skip_keys, expressions_only)) == \
        list(reference_template_strings(value, "/r", skip_keys, expressions_only))


@settings(max_examples=300, deadline=None)
@given(_json)
def test_the_expressions_of_a_template_are_those_template_paths_yields(value):
    """`TemplateReferences` walks a declaration's value itself: the same expressions, in the
    same order, at the same pointers as `template_paths` with `metadata` skipped."""
    from preflight.arm.expressions import template_paths
    from preflight.arm.references import METADATA, TemplateReferences
    from preflight.arm.template import Template

    found = TemplateReferences(Template.from_json({}))
    found._add("/r", value, None)
    expected = list(template_paths(value, METADATA, expressions_only=True))
    assert [(e.path, e.source) for e in found.expressions] == expected
    assert [e.pointer for e in found.expressions] == [p for p, _ in template_strings(value, "/r", METADATA, True)]


# ---------------------------------------------------------------------------- ARM004


def test_arm004_finds_a_call_that_overlaps_a_string_literal_spelling_a_call(tmp_path):
    path = template(tmp_path, parameters={"a": {"type": "string"}}, variables={
        "v": "[concat('parameters(', parameters('missing'), parameters('a'))]",
        "w": "[PARAMETERS ( 'Other' )]",
        "fine": "[concat('variables(''nope'')', parameters('A'))]"})
    found = {f.pointer: f.message for f in findings(path, "ARM004")}
    assert set(found) == {"/variables/v", "/variables/w"}
    assert "parameter 'missing'" in found["/variables/v"] and "parameter 'Other'" in found["/variables/w"]


def test_arm005_and_arm006_read_calls_in_any_case(tmp_path):
    path = template(tmp_path, variables={"a": "[VARIABLES('b')]", "b": "[Variables ('a')]",
                                         "r": "[REFERENCE('x').y]"})
    assert [f.pointer for f in findings(path, "ARM005")] == ["/variables/r"]
    assert len(findings(path, "ARM006")) == 1


# Expressions written to trip a reading of the whole text: calls in any case, names with '',
# escaped quotes and backslashes, \u escapes, a blank escaped between the name and `(`,
# unterminated literals, and calls spelled inside literals.
_pieces = st.sampled_from([
    "parameters('a')", "PARAMETERS('missing')", "variables('v')", "Variables ( 'w' )", "variables('gone')",
    "parameters('it''s')", "parameters('a\"b')", "parameters('a\\b')", "parameters('\u00e9t\u00e9')",
    "parameters\n('n')", "parameters(\t't')", "'parameters(''p'')'", "parameters('open", "reference('r').x",
    "REFERENCE(variables('v'))", "concat('a', 'b')", "variables('v''')", "if(true(), variables('w'), 'x')"])
_expressions = st.lists(_pieces, min_size=1, max_size=3).map(lambda ps: "[concat(" + ", ".join(ps) + ")]")


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["v", "w", "x", "copy"]), _expressions, max_size=3),
       st.lists(_expressions, max_size=2), st.booleans(), st.booleans())
def test_the_text_shortcuts_of_arm004_to_arm006_find_what_the_walk_finds(tmp_path_factory, variables, names, nested,
                                                                          escaped):
    """ARM004-ARM006 read the file's text first and skip the walk when it proves there is
    nothing to find (`text_references`, `may_call`, `possible_variable_reads`): the same findings
    as with the walk always taken. (`escaped`: the file writes its quotes as JSON escapes.)"""
    from preflight.rules import arm as arm_rules

    body: dict = dict(variables)
    if "copy" in body:
        body["copy"] = [{"name": "c", "count": 1, "input": body["copy"]}]
    resources = [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": n}
                 for n in names]
    if nested:
        resources.append({"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "n",
                          "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                                         "template": {"$schema": SCHEMA, "contentVersion": "1.0.0.0",
                                                      "parameters": {"missing": {"type": "string"}},
                                                      "variables": dict(body), "resources": []}}})
    data = {"$schema": SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"a": {"type": "string", "defaultValue": "x"}}, "variables": body, "resources": resources}
    path = tmp_path_factory.mktemp("t") / "azuredeploy.json"
    text = json.dumps(data, ensure_ascii=False)
    path.write_text(text.replace("'", "\\u0027") if escaped else text, encoding="utf-8")
    rules = ["ARM004", "ARM005", "ARM006"]

    def shown():
        return sorted((f.rule, f.pointer, f.message) for f in scan([str(path)], Options(select=rules)).findings)

    with_shortcuts = shown()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(arm_rules, "text_references", lambda doc: None)
        mp.setattr(arm_rules, "may_call", lambda doc, name: True)
        # the superset that tells nothing: every variable may read every one
        mp.setattr(arm_rules, "possible_variable_reads", lambda t: {v: set(t.variables) for v in t.variables})
        mp.setattr(arm_rules, "variables_may_call", lambda t, names: True)
        assert with_shortcuts == shown()


@settings(max_examples=300, deadline=None)
@given(_expressions)
def test_the_possible_references_of_a_string_hold_every_reference_parsing_finds(text):
    from preflight.arm.references import Expression, expression_facts

    possible = Expression("", None, None, text).possible_references()
    assert {(ref.kind, ref.name.lower()) for ref in expression_facts(text).everything()} <= possible


def test_possible_references_find_calls_inside_and_overlapping_string_literals():
    from preflight.arm.references import Expression

    text = "[concat('parameters(', PARAMETERS ( 'It''s' ), variables('v'), 'x')]"
    assert Expression("", None, None, text).possible_references() == {
        ("parameters", "it's"), ("variables", "v"), ("parameters", ", parameters ( ")}
    assert Expression("", None, None, "[concat('a', 'b')]").possible_references() == frozenset()


# Variables as a front end builds them: trees (and strings) anywhere in their values.
_variable_value = st.recursive(
    _expressions | st.sampled_from(["x", "[[variables('v')]"]) | _expressions.map(compile_string),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "metadata"]), inner, max_size=2),
    max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["v", "w", "x", "V"]), _variable_value, max_size=4),
       st.lists(st.fixed_dictionaries({"name": st.sampled_from(["v", "c", "C", 3])},
                                      optional={"count": _variable_value, "input": _variable_value,
                                                "Input": _variable_value, "metadata": _variable_value}),
                max_size=2))
def test_the_variable_shortcuts_of_arm005_and_arm006_read_trees_as_the_walk_does(variables, copies):
    """`variables_may_call` and `possible_variable_reads` read a variable's trees as well as its
    strings, and the input and count of its copy loop: whatever the walk finds in its
    expressions, they find (a superset)."""
    from preflight.arm.references import possible_variable_reads, references_of, variables_may_call
    from preflight.arm.template import Template

    if copies:
        variables = {**variables, "copy": copies}
    t = Template.from_json({"$schema": SCHEMA, "variables": variables, "resources": []})
    found = references_of(t)
    calls = {name for decl in t.variables.values() for e in found.of(decl) for name in e.calls}
    for names in (("reference", "references"), ("concat",), ("if",)):
        if not calls.isdisjoint(names):
            assert variables_may_call(t, names)
    may_read = possible_variable_reads(t)
    for lower, decl in t.variables.items():
        reads = {ref.name.lower() for e in found.of(decl) for ref in e.references
                 if ref.kind == "variables" and ref.name.lower() in t.variables}
        assert reads <= may_read[lower]


_resource = st.fixed_dictionaries(
    {"type": st.sampled_from(["Microsoft.Storage/storageAccounts", "Microsoft.Resources/deployments"]),
     "name": _variable_value},
    optional={"properties": st.fixed_dictionaries({}, optional={"template": st.fixed_dictionaries(
        {"variables": st.dictionaries(st.sampled_from(["v", "w"]), _variable_value, max_size=2)}),
        "x": _variable_value, "metadata": _variable_value}),
        "resources": st.lists(st.fixed_dictionaries({"type": st.just("child"), "name": _variable_value}), max_size=2),
        "comments": _variable_value, "metadata": _variable_value})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b"]), st.fixed_dictionaries(
           {"type": st.just("string")}, optional={"defaultValue": _variable_value, "allowedValues": _variable_value,
                                                  "metadata": _variable_value}), max_size=2),
       st.dictionaries(st.sampled_from(["v", "w", "copy"]), _variable_value, max_size=3),
       st.dictionaries(st.sampled_from(["o"]), _variable_value, max_size=1),
       st.lists(_resource, max_size=3))
def test_the_names_a_template_may_name_hold_those_of_every_expression_of_its_walk(parameters, variables, outputs,
                                                                                    resources):
    """ARM004 reads `possible_names` from the template's JSON before it walks the expressions:
    it holds whatever the walk's expressions may name (strings and trees, copy loops, children,
    not nested templates)."""
    from preflight.arm.references import nested_templates, possible_names, references_of
    from preflight.arm.template import Template

    if "copy" in variables:
        variables["copy"] = [{"name": "c", "count": 1, "input": variables["copy"]}]
    root = Template.from_json({"$schema": SCHEMA, "parameters": parameters, "variables": variables,
                               "outputs": outputs, "resources": resources})
    for t, _ in nested_templates(root):
        walked = {name for e in references_of(t).expressions for name in e.possible_references()}
        assert walked <= possible_names(t)


def test_a_variable_tree_that_calls_reference_is_found_and_one_that_does_not_is_not_walked(monkeypatch):
    from preflight.arm import references
    from preflight.arm.template import Template

    reads = Template.from_json({"variables": {"v": {"a": [compile_string("[reference('r').x]")]}}})
    plain = Template.from_json({"variables": {"v": compile_string("[concat(variables('w'), 'x')]"), "w": "y"}})
    assert references.variables_may_call(reads, ("reference", "references"))
    assert not references.variables_may_call(plain, ("reference", "references"))
    assert references.possible_variable_reads(plain) == {"v": {"w"}, "w": set()}
    copied = Template.from_json({"variables": {"w": "x", "copy": [
        {"name": "c", "count": "[length(variables('w'))]", "Input": "[reference('r').x]"}]}})
    assert references.variables_may_call(copied, ("reference", "references"))
    assert references.possible_variable_reads(copied) == {"c": {"w"}, "w": set()}


def test_the_text_cannot_tell_where_an_escape_writes_a_call_otherwise(tmp_path):
    from preflight.arm.references import text_references

    def named(expression: str):
        doc = document(template(tmp_path, parameters={"a": {"type": "string"}}, variables={"v": expression}))
        return text_references(doc)

    assert named("[parameters('a')]") == {("parameters", "a")}
    assert named("[PARAMETERS ( 'A' )]") == {("parameters", "a")}
    assert named("[concat(parameters('it''s'), 'parameters(')]") == {("parameters", "it's")}
    for escaped in ("[parameters('a\"b')]", "[parameters('a\\b')]", "[parameters\n('a')]", "[parameters(\t'a')]",
                    "[parameters('\u00e9')]", "[parameters('parameters(''x'')')]"):
        assert named(escaped) is None, escaped
    path = tmp_path / "escaped.json"
    for escape in (("'", "\\u0027"), ("[p", "[\\u0070")):  # a quote; a letter of the function's name
        path.write_text(json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [],
                                    "variables": {"v": "[parameters('missing')]"}}).replace(*escape))
        assert "missing" in findings(path, "ARM004")[0].message
    path.write_text(json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [],
                                "variables": {"v": "[reference('x').y]"}}).replace("[r", "[\\u0072"))
    assert [f.pointer for f in findings(path, "ARM005")] == ["/variables/v"]


def test_a_template_that_declares_what_it_names_is_not_walked(tmp_path, monkeypatch):
    from preflight.arm import references

    path = template(tmp_path, parameters={"name": {"type": "string"}}, variables={"v": "[parameters('name')]"},
                    resources=[{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01",
                                "name": "[variables('v')]", "properties": {"x": "[reference('r').y]"}}])
    walked = []
    real = references.TemplateReferences
    monkeypatch.setattr(references, "TemplateReferences", lambda t: walked.append(t) or real(t))
    assert findings(path, "ARM004") == [] and walked == []
    assert findings(path, "ARM005") == [] and findings(path, "ARM006") == [] and walked == []
    path.write_text(path.read_text().replace("parameters('name')", "parameters('nam')"))
    assert len(findings(path, "ARM004")) == 1 and len(walked) == 1


# --------------------------------------------------------------- types a template may deploy


def test_possible_types_compose_children_and_follow_inline_templates(tmp_path):
    child_full = {"type": "Microsoft.KeyVault/vaults/accessPolicies", "name": "kv/add"}
    nested = {"type": "Microsoft.Resources/deployments", "name": "n", "apiVersion": "2022-09-01",
              "properties": {"template": {"resources": [{"type": "Microsoft.Storage/storageAccounts", "name": "s"}]}}}
    vault = {"type": "Microsoft.KeyVault/vaults", "name": "kv", "resources": [
        {"type": "secrets", "name": "s"}, child_full]}
    doc = document(template(tmp_path, resources=[vault, nested]))
    assert possible_types(doc) == {"microsoft.keyvault/vaults", "microsoft.keyvault/vaults/secrets",
                                   "microsoft.keyvault/vaults/accesspolicies", "microsoft.resources/deployments",
                                   "microsoft.storage/storageaccounts"}


def test_a_type_from_an_expression_or_a_linked_file_is_not_ruled_out(tmp_path):
    dynamic = {"type": "[variables('t')]", "name": "kv", "apiVersion": "2023-07-01",
               "properties": {"tenantId": "[subscription().tenantId]", "accessPolicies": [],
                              "sku": {"family": "A", "name": "standard"}}}
    path = template(tmp_path, variables={"t": "Microsoft.KeyVault/vaults"}, resources=[dynamic])
    doc = document(path)
    assert possible_types(doc) is None
    ctx = ScanContext(Options(), DocumentStore(Options()))
    assert [v.branch for v in vault_deployments(doc, ctx)] == ["declared"]
    assert findings(path, "KV001")

    linked = {"type": "Microsoft.Resources/deployments", "name": "n", "apiVersion": "2022-09-01",
              "properties": {"templateLink": {"relativePath": "vault.json"}}}
    template(tmp_path, name="vault.json", resources=[dict(dynamic, type="Microsoft.KeyVault/vaults")])
    path = template(tmp_path, resources=[linked])
    assert possible_types(document(path)) is None
    assert findings(path, "KV001")


def test_a_template_without_vaults_or_checked_parameters_is_not_evaluated(tmp_path):
    path = template(tmp_path, parameters={"n": {"type": "string", "defaultValue": "x"}},
                    resources=[{"type": "Microsoft.Storage/storageAccounts", "name": "[parameters('n')]"}])
    doc = document(path)
    ctx = ScanContext(Options(), DocumentStore(Options()))
    from preflight.contract import REGISTRY
    from preflight.rulepacks import load_rule_packs
    load_rule_packs()
    for rule_id in ("KV001", "KV015", "ARM001", "ARM002", "ARM003", "ARM004"):
        assert list(REGISTRY[rule_id].check(doc, ctx)) == []
    assert "arm.evaluations" not in doc.cache
    assert template_of(doc).parameters["n"].default == "x"


def test_kv019_evaluates_only_templates_whose_documents_name_a_key_vault(tmp_path):
    read = "[reference(resourceId('Microsoft.KeyVault/vaults', 'kv-read'), '2019-09-01').vaultUri]"
    site = {"type": "Microsoft.Web/sites", "apiVersion": "2022-03-01", "name": "app",
            "properties": {"siteConfig": {"appSettings": [{"name": "VAULT", "value": read}]}}}
    plain = template(tmp_path, name="plain.json", parameters={"n": {"type": "string", "defaultValue": "x"}},
                     resources=[{"type": "Microsoft.Storage/storageAccounts", "name": "[parameters('n')]"}])
    doc = document(plain)
    from preflight.contract import REGISTRY
    from preflight.rulepacks import load_rule_packs
    load_rule_packs()
    assert list(REGISTRY["KV019"].check(doc, ScanContext(Options(), DocumentStore(Options())))) == []
    assert "arm.evaluations" not in doc.cache

    # the read is in a file the template links to: the root's text names no Key Vault
    template(tmp_path, name="site.json", resources=[site])
    linked = {"type": "Microsoft.Resources/deployments", "name": "n", "apiVersion": "2022-09-01",
              "properties": {"templateLink": {"relativePath": "site.json"}}}
    root = template(tmp_path, name="main.json", resources=[linked])
    assert "keyvault" not in root.read_text().lower()
    assert [f.path for f in findings(root, "KV019")] == [str(tmp_path / "site.json")]


def test_kv019_does_not_evaluate_a_template_that_names_a_key_vault_without_reading_one(tmp_path):
    """A template whose text names a Key Vault (here, in a tag) but that has no `reference()` /
    `list*()` call with a target has no read to find: it is not evaluated for KV019; one with
    such a call is, and its read is reported."""
    from preflight.contract import REGISTRY
    from preflight.rulepacks import load_rule_packs

    load_rule_packs()
    site = {"type": "Microsoft.Web/sites", "apiVersion": "2022-03-01", "name": "app",
            "tags": {"keyVaultName": "kv-named", "id": "[resourceId('Microsoft.Web/sites', 'app')]"}}
    named = document(template(tmp_path, name="named.json", resources=[site]))
    assert list(REGISTRY["KV019"].check(named, ScanContext(Options(), DocumentStore(Options())))) == []
    assert "arm.evaluations" not in named.cache

    read = "[reference(resourceId('Microsoft.KeyVault/vaults', 'kv-named'), '2019-09-01').vaultUri]"
    reads = document(template(tmp_path, name="reads.json", resources=[{**site, "tags": {"uri": read}}]))
    found = list(REGISTRY["KV019"].check(reads, ScanContext(Options(), DocumentStore(Options()))))
    assert "arm.evaluations" in reads.cache and [i.pointer for i in found] == ["/resources/0/tags/uri"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["type", "Type", "TYPE", "name", "NAME", "apiVersion", "apiversion",
                                           "dependsOn", "Properties", "properties", "resources", "x"]),
                          st.sampled_from([1, "s", [], {}, True, "[f()]"])), max_size=6))
def test_arm007_reads_each_key_as_a_case_insensitive_lookup_would(pairs):
    """ARM007 finds each resource key's spelling in one pass: the exact spelling, else the first
    in any case, as `kitem` does for each name."""
    from preflight.arm.template import kitem
    from preflight.rules.arm import _RESOURCE_KEYS, _expected, _json_type, _resource_structure, _wrong

    resource = dict(pairs)
    expected = []
    for name, kinds in _RESOURCE_KEYS.items():
        found = kitem(resource, name)
        if found is not None and _wrong(found[1], kinds):
            expected.append((f"/resources/0/{found[0]}",
                             f"`{found[0]}` of resource 0 is {_json_type(found[1])}; ARM expects {_expected(kinds)}"))
    found_issues = [(i.pointer, i.message) for i in _resource_structure([resource], "/resources")]
    assert found_issues[:len(expected)] == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["parameters", "Parameters", "variables", "VARIABLES", "outputs", "Outputs",
                                           "functions", "metadata", "resources", "Resources", "languageVersion",
                                           "languageversion", "contentVersion", "x"]),
                          st.sampled_from([1, "s", [], {}, None, "[f()]", [{"type": 1}], {"r": {"name": 2}}])),
                max_size=6))
def test_arm007_reads_each_section_as_a_case_insensitive_lookup_would(pairs):
    """ARM007 reads a template's sections by exact key only when no key is another casing of
    one: what it reports is what `kitem` of each name finds."""
    from preflight.arm.template import kitem
    from preflight.rules.arm import _SECTIONS, _expected, _json_type, _resource_structure, _wrong, template_structure

    data = dict(pairs)
    expected = []
    for name, kinds in _SECTIONS.items():
        found = kitem(data, name)
        if found is not None and _wrong(found[1], kinds) and found[1] is not None:
            expected.append((f"/{found[0]}", f"`{found[0]}` is {_json_type(found[1])}; ARM expects {_expected(kinds)}"))
    found = kitem(data, "resources")
    if found is not None:
        key, resources = found
        if isinstance(resources, list) or (kitem(data, "languageVersion") is not None and isinstance(resources, dict)):
            expected += [(i.pointer, i.message) for i in _resource_structure(resources, f"/{key}")]
        else:
            expected.append((f"/{key}", f"`{key}` is {_json_type(resources)}; ARM expects an array (or an object keyed "
                             "by symbolic name, with languageVersion 2.0)"))
    doc = Document("t.json", Kind.ARM_TEMPLATE, "json", json.dumps(data), data)
    assert [(i.pointer, i.message) for i in template_structure(doc, None)] == expected


def test_arm004_reads_a_module_template_shared_by_its_callers_once(tmp_path, monkeypatch):
    """A module's compiled template is one object in every file that calls it: ARM004 reads it
    once, and reports what reading it in each caller reports."""
    from preflight.arm import references

    (tmp_path / ".git").mkdir()
    module = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": {"name": {"type": "string"}},
              "variables": {"v": "[concat(parameters('name'), parameters('gone'))]"},
              "resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01",
                             "name": "[variables('v')]", "location": "westeurope"}]}
    (tmp_path / "mod.json").write_text(json.dumps(module, indent=2))
    for caller in ("a", "b", "c"):
        (tmp_path / f"{caller}.bicep").write_text(
            f"module m 'mod.json' = {{\n  name: 'm'\n  params: {{ name: '{caller}' }}\n}}\n")
    from preflight.rules import arm as arm_rules

    computed: list = []
    undeclared = arm_rules._undeclared
    monkeypatch.setattr(arm_rules, "_undeclared", lambda *a: computed.append(a[0].pointer) or undeclared(*a))

    def shown():
        found = scan([str(tmp_path)], Options(jobs=1)).findings
        return [(f.path, f.line, f.message, f.data.get("callers")) for f in found if f.rule == "ARM004"]

    shared = shown()
    assert len(shared) == 1 and shared[0][0].endswith("mod.json") and "'gone'" in shared[0][2]
    assert len(shared[0][3]) == 3
    assert sorted(computed) == ["", "", "", "/resources/0/properties/template"]  # the callers, the module once
    computed.clear()
    monkeypatch.setattr(references, "SHARED_TEMPLATES", 0)
    assert shown() == shared
    assert sorted(computed) == ["", "", ""] + ["/resources/0/properties/template"] * 3  # read in each caller


def test_kv019_reads_a_module_template_shared_by_its_callers_once(tmp_path, monkeypatch):
    """The reads of Key Vault resources in a module's template, found once for every file that
    calls it, are reported as reading it in each caller reports them."""
    from preflight.arm import references, vaults

    (tmp_path / ".git").mkdir()
    read = "[reference(resourceId('Microsoft.KeyVault/vaults', parameters('vault')), '2019-09-01').vaultUri]"
    module = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": {"vault": {"type": "string"}},
              "resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01",
                             "name": "st", "location": "westeurope", "tags": {"uri": read}}],
              "outputs": {"uri": {"type": "string", "value": read}}}
    (tmp_path / "mod.json").write_text(json.dumps(module, indent=2))
    for caller in ("a", "b"):
        (tmp_path / f"{caller}.bicep").write_text(
            f"param keyVaultName string = 'kv-{caller}'\n"
            f"module m 'mod.json' = {{\n  name: 'm'\n  params: {{ vault: keyVaultName }}\n}}\n")
    computed: list = []
    read_calls = vaults._read_calls_of
    monkeypatch.setattr(vaults, "_read_calls_of",
                        lambda base, value, trees: computed.append(base) or read_calls(base, value, trees))

    def shown():
        found = scan([str(tmp_path)], Options(jobs=1)).findings
        return [(f.path, f.line, f.message, f.data.get("callers")) for f in found if f.rule == "KV019"]

    shared = shown()
    assert len(shared) == 4 and all(f[0].endswith("mod.json") for f in shared)  # tags and output, per caller
    reads_shared = len(computed)
    computed.clear()
    monkeypatch.setattr(references, "SHARED_TEMPLATES", 0)
    assert shown() == shared
    assert len(computed) > reads_shared  # the module read again in the second caller


def _full_template_reads(template, trees):
    """KV019's reads of a template as the walk of every expression gives them
    (`references_of`): what `_template_reads` must find without it."""
    from preflight.arm import vaults
    from preflight.arm.references import references_of

    found, cut = references_of(template), len(template.pointer)

    def calls(expressions):
        out = []
        for expression in expressions:
            source = expression.source
            if isinstance(source, str):
                lower = source.lower()
                if "reference" not in lower and "list" not in lower:
                    continue
                tree = expression.tree
                here = vaults._reading_calls(tree) if tree is not None else []
            else:
                here = trees.get(id(source))
                if here is None:
                    here = trees[id(source)] = vaults._reading_calls(source)
            if here and not vaults._under_comments(expression.path):
                out.extend((expression.pointer[cut:], c) for c in here)
        return out

    return [calls(found.of(decl)) for decl in template.all_resources()], calls(found.outputs)


_reads = st.sampled_from([
    "[reference(resourceId('Microsoft.KeyVault/vaults', 'kv'), '2019-09-01').vaultUri]",
    "[LISTKEYS(variables('v'), '2022-07-01')]", "[concat(listSecrets('a', '2020-01-01'), reference('b'))]",
    "[concat('list', 'reference')]", "[[reference('x', '2019-09-01')]", "[reference(", "[parameters('allowList')]",
    "[Reference(resourceId('Microsoft.KeyVault/vaults', 'kv'), '2026-02-01')]", "[listNs . fn(1, '2019-09-01')]",
    "[LIST\t( 'a', '2020-01-01')]", "[ listKeys  (variables('v'), '2022-07-01')]", "[concat('xlist(', 'a')]",
    "[reference('kv')]", "[references(variables('v'), '2019-09-01')]", "[parameters('list')]"])
_read_values = st.recursive(
    _reads | st.sampled_from(["x", "[variables('v')]", "reference"]) | _reads.map(compile_string),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["a", "metadata", "Comments", "tags"]), inner, max_size=3),
    max_leaves=8)
_reading_resource = st.fixed_dictionaries(
    {"type": st.sampled_from(["Microsoft.Web/sites", "Microsoft.Resources/deployments"]), "name": _read_values},
    optional={"properties": st.fixed_dictionaries({}, optional={
        "template": st.fixed_dictionaries({"resources": st.lists(st.fixed_dictionaries(
            {"type": st.just("Microsoft.Web/sites"), "name": st.just("in"), "properties": _read_values}),
            max_size=2)}, optional={"outputs": st.dictionaries(st.just("o"), _read_values, max_size=1)}),
        "x": _read_values, "metadata": _read_values, "comments": _read_values}),
        "resources": st.lists(st.fixed_dictionaries({"type": st.just("child"), "name": _read_values}), max_size=2),
        "comments": _read_values, "metadata": _read_values, "tags": _read_values})


@settings(max_examples=300, deadline=None)
@given(st.lists(_reading_resource, max_size=3), st.dictionaries(st.sampled_from(["o", "p"]), _read_values, max_size=2))
def test_kv019_finds_the_reads_of_a_template_that_the_walk_of_its_expressions_finds(resources, outputs):
    """KV019 walks a declaration's body and the outputs for `reference()` / `list*()` calls
    itself, without the `Expression` of every string: the same calls, in the same order, at
    the same pointers, in the template and its nested templates (trees and strings, comments
    and metadata keys, `[[` escapes)."""
    from preflight.arm import vaults
    from preflight.arm.references import nested_templates
    from preflight.arm.template import Template

    root = Template.from_json({"$schema": SCHEMA, "outputs": outputs, "resources": resources})
    for t, _ in nested_templates(root):
        assert vaults._template_reads(t, {}) == _full_template_reads(t, {})


def _vault(api: str, name: str = "kv-one") -> dict:
    return {"type": "Microsoft.KeyVault/vaults", "apiVersion": api, "name": name, "location": "westeurope",
            "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"},
                           "enableRbacAuthorization": True}}


def test_kv019_reports_with_its_shortcuts_what_it_reports_without_them(tmp_path, monkeypatch):
    """KV019's reads with the lean walk, the skip of JSON text that names no read and of
    templates without a read call, and with the full walk of every expression and every
    template evaluated: the same findings, with some in each kind of file (a
    read in ARM JSON, one spelt with a `\\u` escape, module outputs and a read in Bicep), and
    none in a template that reads nothing."""
    from preflight.arm import vaults

    (tmp_path / ".git").mkdir()
    kv = "resourceId('Microsoft.KeyVault/vaults', 'kv-read')"
    template(tmp_path, "reads.json", resources=[
        {"type": "Microsoft.Web/sites", "apiVersion": "2022-03-01", "name": "app", "location": "westeurope",
         "copy": {"name": "c", "count": 2},
         "properties": {"siteConfig": {"appSettings": [
             {"name": "VAULT", "value": f"[REFERENCE({kv}, '2019-09-01').vaultUri]"},
             {"name": "NEW", "value": f"[reference({kv}, '2026-02-01').vaultUri]"},
             {"name": "KEYS", "value": f"[string(ListKeys({kv}, '2022-07-01'))]"}]}},
         "tags": {"comments": f"[reference({kv}, '2019-09-01').vaultUri]"}},
        _vault("2023-07-01")],
        outputs={"uri": {"type": "string", "value": f"[reference({kv}, '2019-09-01').vaultUri]"}})
    escaped = json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [], "outputs": {
        "uri": {"type": "string", "value": f"[reference({kv}, '2019-09-01').vaultUri]"}}}, indent=2)
    (tmp_path / "escaped.json").write_text(escaped.replace("[reference(", "[\\u0072eference("))
    template(tmp_path, "none.json", resources=[_vault("2026-02-01"), _vault("2026-02-01", "kv-two")])
    (tmp_path / "vault.bicep").write_text(
        "param name string\nresource kv 'Microsoft.KeyVault/vaults@2023-07-01' existing = {\n  name: name\n}\n"
        "output uri string = kv.properties.vaultUri\n")
    (tmp_path / "main.bicep").write_text(
        "module v 'vault.bicep' = {\n  name: 'v'\n  params: { name: 'kv-mod' }\n}\n"
        "output uri string = v.outputs.uri\n"
        "resource site 'Microsoft.Web/sites@2022-03-01' = {\n  name: 'app'\n  location: 'westeurope'\n"
        f"  tags: {{ keys: string(listKeys({kv}, '2022-07-01')) }}\n}}\n")

    def shown():
        found = scan([str(tmp_path)], Options(jobs=1)).findings
        return sorted((f.path, f.line, f.column, f.message, json.dumps(f.data, sort_keys=True))
                      for f in found if f.rule == "KV019")

    fast = shown()
    assert {Path(f[0]).name for f in fast} == {"reads.json", "escaped.json", "vault.bicep", "main.bicep"}
    with monkeypatch.context() as mp:
        mp.setattr(vaults, "_template_reads", _full_template_reads)
        mp.setattr(vaults, "_may_call_reads", lambda document: True)
        mp.setattr(vaults, "_may_read_keyvault", lambda doc, trees, per_template: True)  # every template evaluated
        assert shown() == fast


_values = st.sampled_from(["a", "A", "b", "[[x]", "[concat('a')]", "", 1, 2, 0, 12, True, False, "1", "true",
                           ["a"], ["a", "c"], [1, 3], [], None])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["string", "int", "bool", "array", "securestring"]),
       st.one_of(st.none(), st.lists(_values.filter(lambda v: v is not None), max_size=3)),
       st.sampled_from([None, 1, 2, "[parameters('n')]"]), st.sampled_from([None, 3, 10]),
       _values, st.one_of(st.just("none"), _values), st.booleans())
def test_arm001_and_arm002_settled_from_literals_find_what_the_evaluation_finds(
        tmp_path_factory, kind, allowed, low, high, default, in_file, nested):
    """ARM001 and ARM002 skip the evaluation when literal values provably meet the constraints
    (`_settled_at_root`): the same findings as with the evaluation always run."""
    from preflight.rules import arm as arm_rules

    decl: dict = {"type": kind}
    if allowed is not None:
        decl["allowedValues"] = allowed
    for key, bound in (("minLength" if kind in ("string", "array") else "minValue", low),
                       ("maxLength" if kind in ("string", "array") else "maxValue", high)):
        if bound is not None:
            decl[key] = bound
    if default is not None:
        decl["defaultValue"] = default
    resources: list = []
    if nested:
        resources.append({"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "n",
                          "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                                         "parameters": {"p": {"value": "[parameters('p')]"}},
                                         "template": {"$schema": SCHEMA, "contentVersion": "1.0.0.0",
                                                      "parameters": {"p": dict(decl)}, "resources": []}}})
    folder = tmp_path_factory.mktemp("t")
    path = template(folder, parameters={"p": decl, "n": {"type": "int", "defaultValue": 1}}, resources=resources)
    if in_file != "none":
        (folder / "azuredeploy.parameters.json").write_text(json.dumps(
            {"$schema": SCHEMA.replace("deploymentTemplate", "deploymentParameters"), "contentVersion": "1.0.0.0",
             "parameters": {"p": {"value": in_file}}}))

    def shown():
        found = scan([str(path)], Options(select=["ARM001", "ARM002"], jobs=1)).findings
        return sorted((f.rule, f.pointer, f.message) for f in found)

    settled = shown()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(arm_rules, "_settled_at_root", lambda *a: False)
        assert settled == shown()


def test_a_template_whose_literal_values_meet_their_constraints_is_not_evaluated_for_them(tmp_path, monkeypatch):
    from preflight.arm import deployments

    evaluated = []
    real = deployments.Evaluation.__init__
    monkeypatch.setattr(deployments.Evaluation, "__init__", lambda self, *a: evaluated.append(1) or real(self, *a))
    path = template(tmp_path, parameters={
        "sku": {"type": "string", "defaultValue": "standard", "allowedValues": ["Standard", "premium"]},
        "count": {"type": "int", "defaultValue": 2, "minValue": 1, "maxValue": 3}},
        resources=[{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st"}])
    assert findings(path, "ARM001") == [] and findings(path, "ARM002") == [] and evaluated == []
    (tmp_path / "azuredeploy.parameters.json").write_text(json.dumps(
        {"parameters": {"sku": {"value": "basic"}, "count": {"value": "7"}}}))
    assert len(findings(path, "ARM001")) == 1 and len(findings(path, "ARM002")) == 1 and evaluated


def test_a_large_template_that_is_not_ascii_is_searched_without_a_buffer_of_12_bytes_a_character(tmp_path):
    import tracemalloc

    from preflight.arm.references import may_call
    from preflight.arm.vaults import _names_keyvault

    # A workbook's serialized content: 600,000 characters, not ASCII (as real workbooks are).
    content = "«Résumé» Coût " * 43_000
    text = json.dumps({"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [
        {"type": "Microsoft.Insights/workbooks", "apiVersion": "2022-04-01", "name": "wb",
         "properties": {"serializedData": content, "displayName": "[reference('Microsoft.KeyVault/vaults/kv')]"}}]},
        ensure_ascii=False)
    path = tmp_path / "azuredeploy.json"
    path.write_text(text, encoding="utf-8")
    doc = load_document(str(path), path.read_bytes())
    assert doc is not None and not doc.text.isascii() and len(doc.text) > 600_000
    tracemalloc.start()
    try:
        assert may_call(doc, "reference") and not may_call(doc, "listkeys")
        assert _names_keyvault(doc)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # `str.lower` on the whole text would take 12 bytes a character for its work (7 MB here).
    assert peak < 4 * len(doc.text)
    assert doc.lower_text == doc.text.lower()


def test_the_nested_templates_kept_on_a_template_do_not_keep_it_alive():
    """Freed with its last reference, not left to the garbage collector: a cycle through the
    template kept every scanned template's JSON alive until a collection walked it."""
    import gc
    import weakref

    from preflight.arm.references import nested_templates, references_of, variable_values
    from preflight.arm.template import Template

    inner = {"type": "Microsoft.Resources/deployments", "name": "n", "apiVersion": "2022-09-01",
             "properties": {"template": {"variables": {"v": "[parameters('p')]"}, "resources": []}}}
    root = Template.from_json({"variables": {"w": "[variables('v')]"}, "resources": [inner]})
    first = nested_templates(root)
    assert nested_templates(root) == first and [outer for _, outer in first] == [None, root]
    references_of(root), variable_values(root)
    gone = weakref.ref(root)
    gc.disable()
    try:
        del root, first
        assert gone() is None
    finally:
        gc.enable()
