"""What a template's expressions name: parameters, variables and functions, read in one walk.

    references_of(template) -> TemplateReferences     (computed on first use, kept on the template)
        .expressions        [Expression]: every expression the template evaluates in its own scope
                            (variables, parameter defaults and allowedValues, resources without
                            their children and without an inline nested template, outputs);
                            `metadata` below them is not entered
        .outputs            [Expression] of the template's `outputs`
        .of(decl)           [Expression] of one VariableDecl (its value, or its copy's input and
                            count), ParameterDecl (defaultValue, allowedValues) or ResourceDecl
    Expression              .pointer (of the JSON string, or where a tree stands), .owner, .tree,
                            .direct_references (outside `if()` branches), .references (all),
                            .calls (lower-cased names of every function it calls),
                            .possible_references() (a superset of the direct ones, read cheaply:
                            a set of (kind, lower-cased name))
    Reference               (kind "parameters" | "variables", name as written, conditional: inside
                            a branch of `if()`, which ARM evaluates only when it is taken)
    possible_names(template) -> {(kind, name)}: a superset of what its expressions may name, read
                            from its JSON without building `TemplateReferences`
    nested_templates(template) -> [(template, the template whose names it uses when outer-scoped)]
    text_references(doc) -> {(kind, name)} | None: read from a JSON document's text without the
                            walk, a superset of what any of its expressions names (None: cannot tell)
    may_call(doc, name) -> bool: False when no expression of a JSON document can call `name`
    variable_values(template) -> {variable: [str | tree]}: the strings and trees of each
                            variable's value (a copy loop's input and count)
    variables_may_call(template, names) -> bool: False when no expression of its variables can
                            call one of the functions `names`
    possible_variable_reads(template) -> {variable: {variable}}: a superset of what each
                            variable's expressions read by name, from its strings without parsing
    shared_template_result(template, key, compute): `compute()` once per shared module template
    expression_facts(text or tree) -> TreeFacts   what one expression names (shared by templates)

Only calls whose name argument is a literal string are references (`parameters('x')`); a computed
name (`parameters(variables('p'))`) names nothing statically. Rules read expressions through
this module and never parse `[...]` text themselves; every rule reads the same walk.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from functools import lru_cache
from typing import Any, Callable, Iterator, NamedTuple, TypeVar

from ..loaders import join_pointer
from .expressions import EXPRESSION_CACHE
from .expressions import Call, Index, Literal, Member, Node, compile_string, is_expression, path_pointer, walk
from .template import ABSENT, ResourceDecl, Template, kitem

METADATA = frozenset({"metadata"})  # keys whose values ARM does not evaluate in a template's scope
_ENTERED = (dict, list, Node)  # the values `template_paths` enters


class Reference(NamedTuple):
    kind: str  # "parameters" | "variables"
    name: str  # as written; ARM compares names case-insensitively
    conditional: bool  # inside a branch of if(): evaluated only when the condition selects it


class Expression:
    """One expression of a template (a `[...]` string or a tree) and what it names. What it
    names is read when first asked for, and only as far as asked: most rules ask about few
    expressions, and about what `if()` branches name less often still."""

    __slots__ = ("base", "path", "owner", "source", "_facts")

    def __init__(self, base: str, path: Any, owner: Any, source: str | Node):
        self.base = base
        self.path = path  # a `template_paths` path below `base`: the pointer is built when asked for
        self.owner = owner  # the VariableDecl, ParameterDecl or ResourceDecl it belongs to (None: outputs)
        self.source = source  # the `[...]` string, or the tree a front end built
        self._facts: TreeFacts | None = None

    @property
    def pointer(self) -> str:
        return path_pointer(self.base, self.path)

    @property
    def direct_references(self) -> tuple[Reference, ...]:
        """Those outside `if()` branches, in source order: what ARM always evaluates."""
        return self._read().direct

    @property
    def references(self) -> tuple[Reference, ...]:
        """All of them: the direct ones, then those in `if()` branches (`conditional`)."""
        return self._read().everything()

    @property
    def calls(self) -> frozenset[str]:
        """The lower-cased names of every function the expression calls."""
        return self._read().calls()

    @property
    def tree(self) -> Node | None:
        """The syntax tree (None: a string that does not parse as an expression)."""
        return self._read().tree

    def possible_references(self) -> frozenset[tuple[str, str]]:
        """(kind, lower-cased name): a superset of `direct_references`, read cheaply. For a
        string, every place of its text that may be a `parameters('x')` or `variables('x')`
        call, without parsing it; for a tree, its direct references. An expression whose possible
        names are all declared (a subset of the declared pairs) names none that is not."""
        source = self.source
        if isinstance(source, str):
            return _candidates(source)
        return self._read().direct_names()

    def _read(self) -> TreeFacts:
        facts = self._facts
        if facts is None:
            source = self.source
            facts = self._facts = expression_facts(source)
        return facts


class TemplateReferences:
    """The expressions of one template (not of its inline nested templates), walked once."""

    def __init__(self, template: Template):
        self.expressions: list[Expression] = []
        self.outputs: list[Expression] = []
        self._owned: dict[int, list[Expression]] = {}
        raw = template.raw if isinstance(template.raw, dict) else {}
        self._variables(template, raw)
        found = kitem(raw, "outputs")
        if found:
            start = len(self.expressions)
            self._add(join_pointer(template.pointer, found[0]), found[1], None)
            self.outputs = self.expressions[start:]
        for decl in template.parameters.values():
            for value, key in ((decl.default, "defaultValue"), (decl.allowed, "allowedValues")):
                if value is not ABSENT:
                    self._add(join_pointer(decl.pointer, key), value, decl)
        for resource in template.all_resources():
            self._add(resource.pointer, _own_body(resource), resource)

    def of(self, decl: Any) -> list[Expression]:
        """The expressions of one declaration, in source order."""
        return self._owned.get(id(decl), [])

    def _variables(self, template: Template, raw: dict) -> None:
        found = kitem(raw, "variables")
        if not found or not isinstance(found[1], dict):
            return
        base = join_pointer(template.pointer, found[0])
        by_pointer = {decl.pointer: decl for decl in template.variables.values()}
        for name, value in found[1].items():
            where = join_pointer(base, name)
            if not (isinstance(name, str) and name.lower() == "copy" and isinstance(value, list)):
                self._add(where, value, by_pointer.get(where))
                continue
            for i, spec in enumerate(value):  # variable copy loops: input and count are the variable's
                at = join_pointer(where, i)
                decl = by_pointer.get(at)
                if not isinstance(spec, dict):
                    self._add(at, spec, None)
                    continue
                owned = {hit[0] for hit in (kitem(spec, "input"), kitem(spec, "count")) if hit}
                for key, item in spec.items():
                    if not (isinstance(key, str) and key.lower() in METADATA):
                        self._add(join_pointer(at, key), item, decl if key in owned else None)

    def _add(self, base: str, value: Any, owner: Any) -> None:
        found = [Expression(base, path, owner, source) for path, source in expression_sources(value)]
        self.expressions.extend(found)
        if owner is not None:
            self._owned.setdefault(id(owner), []).extend(found)


def expression_sources(value: Any) -> Iterator[tuple[Any, str | Node]]:
    """(path, expression string or tree) of each expression in `value`, in the order
    `template_paths(value, METADATA, expressions_only=True)` yields them (walked here without
    it, flat: every template's expressions are walked so), none under a `metadata` key."""
    stack: list[tuple[Any, Any]] = [(value, None)]
    pop, push = stack.pop, stack.append
    while stack:
        v, path = pop()
        if isinstance(v, dict):
            for k, item in v.items():
                if isinstance(item, str):
                    if not (item[:1] == "[" and item[-1:] == "]" and item[1:2] != "["):
                        continue
                    if isinstance(k, str) and len(k) == 8 and k.lower() == "metadata":
                        continue
                    yield (path, k), item
                elif isinstance(item, _ENTERED):
                    if isinstance(k, str) and len(k) == 8 and k.lower() == "metadata":
                        continue
                    push((item, (path, k)))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                if isinstance(item, _ENTERED) or (isinstance(item, str) and item[:1] == "[" and item[-1:] == "]"):
                    push((item, (path, i)))
        elif isinstance(v, str):
            if is_expression(v):
                yield path, v
        elif isinstance(v, Node):
            yield path, v


def references_of(template: Template) -> TemplateReferences:
    """The references of a template's expressions, walked on first use and kept on the template."""
    found = template.derived.get("references")
    if found is None:
        found = template.derived["references"] = TemplateReferences(template)
    return found


def possible_names(template: Template) -> set[tuple[str, str]]:
    """(kind, lower-cased name): a superset of the `possible_references` of every expression of
    `TemplateReferences(template)`, read straight from the template's JSON (its parameters,
    variables and outputs whole, each resource's own body), without the expressions' objects:
    a string's `_candidates`, and every `parameters('x')` / `variables('x')` call of a tree
    (`if()` branches included)."""
    raw = template.raw if isinstance(template.raw, dict) else {}
    values: list[Any] = [found[1] for found in (kitem(raw, key) for key in ("parameters", "variables", "outputs"))
                         if found]
    values.extend(_own_body(resource) for resource in template.all_resources())
    names: set[tuple[str, str]] = set()
    trees: list[Node] = []
    seen: set[int] = set()
    while values:
        v = values.pop()
        if isinstance(v, str):
            if v[:1] == "[" and v[-1:] == "]" and v[1:2] != "[":
                names |= _candidates(v)
        elif isinstance(v, dict):
            values.extend(v.values())
        elif isinstance(v, list):
            values.extend(v)
        elif isinstance(v, Node) and id(v) not in seen:  # (a front end shares trees)
            seen.add(id(v))
            trees.append(v)
    while trees:
        node = trees.pop()
        if isinstance(node, Call):
            args = node.args
            if (node.name == "parameters" or node.name == "variables") and len(args) == 1 \
                    and isinstance(args[0], Literal) and isinstance(args[0].value, str):
                names.add((node.name, args[0].value.lower()))
            trees.extend(args)
        elif isinstance(node, Member):
            trees.append(node.target)
        elif isinstance(node, Index):
            trees.append(node.index)
            trees.append(node.target)
    return names


def nested_templates(template: Template) -> list[tuple[Template, Template | None]]:
    """(template, the template whose names it uses when it is outer-scoped, else None) for the
    template and every inline nested template in it, recursively (found once, kept on the
    template: most rules ask). What is kept names the template itself only by position (0), so
    the template does not refer to itself: a template is freed when its document is, without
    waiting for the garbage collector (see `template.Backref`)."""
    kept: list[tuple[Template, int]] | None = template.derived.get("nested-templates")
    if kept is None:
        found: list[tuple[Template, Template | None]] = []
        stack: list[tuple[Template, Template | None]] = [(template, None)]
        while stack:
            t, outer = stack.pop()
            found.append((t, outer))
            for r in t.all_resources():
                spec = r.deployment
                if spec is not None and spec.template is not None:
                    stack.append((spec.template, None if spec.scope == "inner" else (outer or t)))
        at = {id(t): i for i, (t, _) in enumerate(found)}
        template.derived["nested-templates"] = [(t, -1 if outer is None else at[id(outer)]) for t, outer in found[1:]]
        return found
    out: list[tuple[Template, Template | None]] = [(template, None)]
    for t, outer_at in kept:
        out.append((t, None if outer_at < 0 else out[outer_at][0]))
    return out


def _own_body(r: ResourceDecl) -> dict[Any, Any]:
    """A resource without its children (visited on their own), its metadata, and the inline
    template of a nested deployment (evaluated in its own scope)."""
    body: dict[Any, Any] = {}
    for key, value in r.body.items():
        lower = key.lower() if isinstance(key, str) else ""
        if lower in ("resources", "metadata", "comments"):
            continue
        if lower == "properties" and r.deployment is not None and isinstance(value, dict):
            value = {k: v for k, v in value.items() if not (isinstance(k, str) and k.lower() == "template")}
        body[key] = value
    return body


class TreeFacts:
    """What one tree names, each part computed when first asked for."""

    __slots__ = ("tree", "direct", "_branches", "_everything", "_in_order", "_calls", "_direct_names")

    def __init__(self, tree: Node | None):
        self.tree = tree
        references: list[Reference] = []
        self._branches: list[Node] = []
        if tree is not None:
            _scan([tree], False, references, self._branches)
        self.direct = tuple(references)
        self._everything: tuple[Reference, ...] | None = None if self._branches else self.direct
        self._in_order: tuple[Reference, ...] | None = None if self._branches else self.direct
        self._calls: frozenset[str] | None = None
        self._direct_names: frozenset[tuple[str, str]] | None = None

    def direct_names(self) -> frozenset[tuple[str, str]]:
        """(kind, lower-cased name) of the direct references."""
        if self._direct_names is None:
            self._direct_names = frozenset((ref.kind, ref.name.lower()) for ref in self.direct)
        return self._direct_names

    def everything(self) -> tuple[Reference, ...]:
        if self._everything is None:
            references = list(self.direct)
            branches = self._branches
            while branches:  # a branch's own if() branches come back here
                found: list[Node] = []
                _scan(branches[::-1], True, references, found)
                branches = found
            self._everything = tuple(references)
        return self._everything

    def in_order(self) -> tuple[Reference, ...]:
        """All of them in the order a walk of the tree meets them (`expressions.walk`: source
        order, `if()` branches where they stand), for the order the evaluator settles chains
        of declarations in; `conditional` is not told (False). Without `if()`, `direct`."""
        if self._in_order is None and self.tree is not None:  # (a tree with if() branches)
            self._in_order = tuple(
                Reference(n.name, n.args[0].value, False) for n in walk(self.tree)
                if isinstance(n, Call) and (n.name == "parameters" or n.name == "variables") and len(n.args) == 1
                and isinstance(n.args[0], Literal) and isinstance(n.args[0].value, str))
        return self._in_order or ()

    def calls(self) -> frozenset[str]:
        if self._calls is None:
            self._calls = frozenset(n.name for n in walk(self.tree) if isinstance(n, Call)) \
                if self.tree is not None else frozenset()
        return self._calls


def expression_facts(source: str | Node) -> TreeFacts:
    """`TreeFacts` of an expression string or tree, read once while it is among the latest."""
    return _text_facts(source) if isinstance(source, str) else _tree_facts(source)


@lru_cache(maxsize=EXPRESSION_CACHE // 2)  # the largest entries: a tree and its references
def _text_facts(text: str) -> TreeFacts:
    """`TreeFacts` of an expression string (cached by text: templates repeat expressions)."""
    tree = compile_string(text)
    return TreeFacts(tree if isinstance(tree, Node) else None)


# The facts of the trees a front end built, by identity, the most recently read last. A front
# end shares a tree among the places that use it: a Bicep variable inlined where it is read,
# and a module's compiled template, which every template that calls the module (each test of
# a module, each caller) holds. Each entry keeps its tree, so an id is not reused meanwhile.
_TREES: OrderedDict[int, tuple[Node, TreeFacts]] = OrderedDict()


def _tree_facts(tree: Node) -> TreeFacts:
    """`TreeFacts` of a tree (read once while it is among the EXPRESSION_CACHE latest)."""
    hit = _TREES.get(id(tree))
    if hit is not None:
        _TREES.move_to_end(id(tree))
        return hit[1]
    facts = TreeFacts(tree)
    _TREES[id(tree)] = (tree, facts)
    if len(_TREES) > EXPRESSION_CACHE:
        _TREES.popitem(last=False)
    return facts


def _scan(stack: list[Node], conditional: bool, references: list[Reference], branches: list[Node]) -> None:
    """Depth first in source order (iterative: no recursion limit); the branches of `if()`
    calls are left in `branches` (the hot loop of a template's first rule: kept flat)."""
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        node = pop()
        if isinstance(node, Call):
            name, args = node.name, node.args
            if name == "if" and len(args) == 3:
                push(args[0])
                branches.extend(args[1:])
                continue
            if (name == "parameters" or name == "variables") and len(args) == 1 \
                    and isinstance(args[0], Literal) and isinstance(args[0].value, str):
                references.append(Reference(name, args[0].value, conditional))
            extend(args[::-1])
        elif isinstance(node, Member):
            push(node.target)
        elif isinstance(node, Index):
            push(node.index)
            push(node.target)


# Where an expression's text may call parameters('x') or variables('x'): the function name,
# blanks, `(`, blanks, then a string literal read with the tokenizer's own pattern (unrolled),
# searched in the lower-cased text. Each search starts one character after the last match
# starts, so a match that starts inside a string literal cannot hide a real call overlapping it.
_CANDIDATE = re.compile(r"(parameters|variables)\s*\(\s*('[^']*(?:''[^']*)*')")
_NO_CANDIDATES: frozenset[tuple[str, str]] = frozenset()


@lru_cache(maxsize=EXPRESSION_CACHE)
def _candidates(text: str) -> frozenset[tuple[str, str]]:
    """`Expression.possible_references` of a string. A superset of what parsing finds: a call's
    name is an (ASCII) identifier token of the text, written `parameters` in some case, so
    lower-cased `parameters`, followed by blank and `(` tokens and, for a name argument, a string
    token; the same patterns read at the same place of the same text (`text[1:-1]`, what the
    tokenizer reads; lower-casing adds and removes no quote or blank) find that same literal."""
    body = text[1:-1].lower()
    if "parameters" not in body and "variables" not in body:
        return _NO_CANDIDATES
    found = set()
    search = _CANDIDATE.search
    m = search(body)
    while m is not None:
        found.add((m.group(1), m.group(2)[1:-1].replace("''", "'")))
        m = search(body, m.start() + 1)
    return frozenset(found)


# Most templates reference only names they declare, and never call reference() in variables:
# read from the text alone, a rule can tell so without the walk (`TemplateReferences`), which
# then is not built. A string's value is its text between the quotes, except where JSON escapes
# (`\\n`, `\\u0027`) write it otherwise: text with such escapes where they could matter cannot
# tell (None).
# A call in a whole (lower-cased) text, one regex per function (a literal prefix: searched fast):
# (the name, "") or ("", an escape before the name starts), which the text cannot read. Read
# with `findall` (no match object per call), the literal's body unrolled (`[^']*` runs).
_TEXT_CALLS = tuple((kind, re.compile(kind + r"(?:\s*\(\s*'([^']*(?:''[^']*)*)'|(\s*\(\s*\\|\s*\\))"))
                    for kind in ("parameters", "variables"))


def text_references(doc: Any) -> frozenset[tuple[str, str]] | None:
    """(kind, lower-cased name) of every place of a JSON document's text that may be a
    `parameters('x')` or `variables('x')` call (cached): a superset of the `possible_references`
    of every expression of every template in it, since each expression's string is a piece of
    that text. None when that cannot be told from the text: it is not JSON or not ASCII (it is
    searched lower-cased), or a string's value may differ from its text there (a `\\u` escape
    anywhere, another escape in or before a name, or a name that runs past its JSON string's
    `"`), or a name holds another call (which the search would step over)."""
    cache = doc.cache
    if "arm.text-references" not in cache:
        text = doc.text if doc.format == "json" else ""
        found: set[tuple[str, str]] | None = None
        if text and text.isascii() and not _u_escape(text):
            low = doc.lower_text
            found = set()
            for kind, pattern in _TEXT_CALLS:
                for name, escape in set(pattern.findall(low)):
                    if escape or '"' in name or "\\" in name or "parameters" in name or "variables" in name:
                        found = None
                        break
                    found.add((kind, name.replace("''", "'")))
                if found is None:
                    break
        cache["arm.text-references"] = frozenset(found) if found is not None else None
    return cache["arm.text-references"]


def may_call(doc: Any, name: str) -> bool:
    """False when no expression of a JSON document can call the function `name` (lower-case):
    its text does not hold the name in any case, and no `\\u` escape could write it."""
    if doc.format != "json" or not doc.text or _u_escape(doc.text):
        return True
    return name in doc.lower_text


def _u_escape(text: str) -> bool:
    """Whether a text holds `\\u`. Its backslash is looked for first: most templates have none,
    and one character is found many times faster than two (a whole-text search per template)."""
    return "\\" in text and "\\u" in text


def variable_values(template: Template) -> dict[str, list[str | Node]]:
    """The strings and trees of each variable's raw value (not its keys), by lower-cased name:
    a superset of the expressions `TemplateReferences.of` gives for the variable. A variable
    copy loop's are its `input` and `count` (under every key spelled so), kept under each name
    the loop may have (read once, kept on the template: ARM005 and ARM006 read them)."""
    out: dict[str, list[str | Node]] | None = template.derived.get("variable-values")
    if out is not None:
        return out
    out = template.derived["variable-values"] = {}
    raw = template.raw if isinstance(template.raw, dict) else {}
    found = kitem(raw, "variables")
    if not found or not isinstance(found[1], dict):
        return out
    for name, value in found[1].items():
        if not isinstance(name, str):
            continue  # (JSON keys are strings)
        if name.lower() == "copy" and isinstance(value, list):
            for spec in value:
                if not isinstance(spec, dict):
                    continue  # an expression of no variable
                names = [v.lower() for k, v in spec.items() if isinstance(k, str) and k.lower() == "name"
                         and isinstance(v, str)]
                owned = [v for k, v in spec.items() if isinstance(k, str) and k.lower() in ("input", "count")]
                for copied in names:
                    out.setdefault(copied, []).extend(_strings_and_trees(owned))
            continue
        out.setdefault(name.lower(), []).extend(_strings_and_trees(value))
    return out


def _strings_and_trees(value: Any) -> list[str | Node]:
    found: list[str | Node] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (str, Node)):
            found.append(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return found


def variables_may_call(template: Template, names: tuple[str, ...]) -> bool:
    """False when no expression of the template's variables can call a function of `names`
    (lower-case): no string of their values holds one in any case, and no tree calls one."""
    for sources in variable_values(template).values():
        for source in sources:
            if isinstance(source, str):
                lower = source.lower()
                for name in names:
                    if name in lower:
                        return True
            elif not expression_facts(source).calls().isdisjoint(names):
                return True
    return False


def possible_variable_reads(template: Template) -> dict[str, set[str]]:
    """For each variable (lower-cased name), the declared variables its expressions may read by
    name, `if()` branches included: a superset of their `references` of kind "variables", read
    with `_candidates` from the strings of its value without parsing them, and from its trees
    (see `variable_values`)."""
    declared = template.variables
    out: dict[str, set[str]] = {}
    for name, sources in variable_values(template).items():
        reads: set[str] = set()
        for source in sources:
            if isinstance(source, str):
                if source[:1] == "[" and source[-1:] == "]" and source[1:2] != "[":
                    for kind, ref in _candidates(source):  # (most strings have none)
                        if kind == "variables" and ref in declared:
                            reads.add(ref)
            else:
                reads.update(lower for ref in expression_facts(source).everything()
                             if ref.kind == "variables" and (lower := ref.name.lower()) in declared)
        out[name] = reads
    return out


# A front end shares one module's compiled template among the documents that embed it (a Bicep
# module, in every file that calls it: each test of a module): what a rule reads from that
# template alone is the same in each. Kept for the latest few, each with the template's JSON,
# so that an id is not reused meanwhile.
SHARED_TEMPLATES = 128
_SHARED: OrderedDict[tuple[int, str], tuple[Any, Any]] = OrderedDict()
T = TypeVar("T")


def shared_template_result(template: Template, key: str, compute: Callable[[], T]) -> T:
    """`compute()` for an inner-scoped template that a front end shares among documents,
    computed once while it is among the latest SHARED_TEMPLATES. `compute` must read nothing
    but the template's own JSON (`template.raw`: its declarations and expressions), and give
    pointers relative to `template.pointer`. Any other template is computed each time."""
    raw = template.raw
    document = template.document
    if not template.pointer or getattr(document, "format", None) != "bicep" or not isinstance(raw, dict):
        return compute()
    entry_key = (id(raw), key)
    hit = _SHARED.get(entry_key)
    if hit is not None and hit[0] is raw:
        _SHARED.move_to_end(entry_key)
        return hit[1]
    value = compute()
    _SHARED[entry_key] = (raw, value)
    while len(_SHARED) > SHARED_TEMPLATES:
        _SHARED.popitem(last=False)
    return value
