"""What a template's expressions name: parameters, variables and functions, read in one walk.

    references_of(template) -> TemplateReferences     (computed on first use, kept on the template)
        .expressions        [Expression]: every expression the template evaluates in its own scope
                            (variables, parameter defaults and allowedValues, resources without
                            their children and without an inline nested template, outputs);
                            `metadata` below them is not entered
        .of(decl)           [Expression] of one VariableDecl (its value, or its copy's input and
                            count), ParameterDecl (defaultValue, allowedValues) or ResourceDecl
    Expression              .pointer (of the JSON string, or where a tree stands), .references,
                            .calls (lower-cased names of every function it calls), .owner
    Reference               (kind "parameters" | "variables", name as written, conditional: inside
                            a branch of `if()`, which ARM evaluates only when it is taken)
    nested_templates(template) -> [(template, the template whose names it uses when outer-scoped)]

Only calls whose name argument is a literal string are references (`parameters('x')`); a computed
name (`parameters(variables('p'))`) names nothing statically. Rules read expressions through
this module and never parse `[...]` text themselves; every rule reads the same walk.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator, NamedTuple

from ..loaders import join_pointer
from .expressions import Call, Index, Literal, Member, Node, compile_string, path_pointer, template_paths
from .template import ABSENT, ResourceDecl, Template, kitem

METADATA = frozenset({"metadata"})  # keys whose values ARM does not evaluate in a template's scope


class Reference(NamedTuple):
    kind: str  # "parameters" | "variables"
    name: str  # as written; ARM compares names case-insensitively
    conditional: bool  # inside a branch of if(): evaluated only when the condition selects it


class Expression:
    """One expression of a template (a `[...]` string or a tree) and what it names."""

    __slots__ = ("base", "path", "owner", "references", "calls")

    def __init__(self, base: str, path: Any, owner: Any, references: tuple[Reference, ...], calls: frozenset[str]):
        self.base = base
        self.path = path  # a `template_paths` path below `base`: the pointer is built when asked for
        self.owner = owner  # the VariableDecl, ParameterDecl or ResourceDecl it belongs to (None: outputs)
        self.references = references  # unconditional ones in source order, then those in if() branches
        self.calls = calls

    @property
    def pointer(self) -> str:
        return path_pointer(self.base, self.path)


class TemplateReferences:
    """The expressions of one template (not of its inline nested templates), walked once."""

    def __init__(self, template: Template):
        self.expressions: list[Expression] = []
        self._owned: dict[int, list[Expression]] = {}
        self._trees: dict[int, tuple[tuple[Reference, ...], frozenset[str]]] = {}
        raw = template.raw if isinstance(template.raw, dict) else {}
        self._variables(template, raw)
        found = kitem(raw, "outputs")
        if found:
            self._add(join_pointer(template.pointer, found[0]), found[1], None)
        for decl in template.parameters.values():
            for value, key in ((decl.default, "defaultValue"), (decl.allowed, "allowedValues")):
                if value is not ABSENT:
                    self._add(join_pointer(decl.pointer, key), value, decl)
        for resource in template.all_resources():
            self._add(resource.pointer, _own_body(resource), resource)
        del self._trees

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
        owned = self._owned.setdefault(id(owner), []) if owner is not None else None
        for path, expression in template_paths(value, METADATA, expressions_only=True):
            if isinstance(expression, str):
                references, calls = _text_summary(expression)
            else:
                # A front end shares one tree among the places that use it (a Bicep variable
                # inlined where it is read): each tree is read once. The template keeps its
                # trees alive, so their ids are not reused during the walk.
                summary = self._trees.get(id(expression))
                if summary is None:
                    summary = self._trees[id(expression)] = _tree_summary(expression)
                references, calls = summary
            entry = Expression(base, path, owner, references, calls)
            self.expressions.append(entry)
            if owned is not None:
                owned.append(entry)


def references_of(template: Template) -> TemplateReferences:
    """The references of a template's expressions, walked on first use and kept on the template."""
    found = template.derived.get("references")
    if found is None:
        found = template.derived["references"] = TemplateReferences(template)
    return found


def nested_templates(template: Template) -> Iterator[tuple[Template, Template | None]]:
    """(template, the template whose names it uses when it is outer-scoped, else None) for the
    template and every inline nested template in it, recursively."""
    stack: list[tuple[Template, Template | None]] = [(template, None)]
    while stack:
        t, outer = stack.pop()
        yield t, outer
        for r in t.all_resources():
            spec = r.deployment
            if spec is not None and spec.template is not None:
                stack.append((spec.template, None if spec.scope == "inner" else (outer or t)))


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


_NOTHING: tuple[tuple[Reference, ...], frozenset[str]] = ((), frozenset())


@lru_cache(maxsize=8192)
def _text_summary(text: str) -> tuple[tuple[Reference, ...], frozenset[str]]:
    """`_tree_summary` of an expression string (cached by text: templates repeat expressions)."""
    tree = compile_string(text)
    return _tree_summary(tree) if isinstance(tree, Node) else _NOTHING


def _tree_summary(tree: Node) -> tuple[tuple[Reference, ...], frozenset[str]]:
    """The references of a tree (those outside `if()` branches in source order, then those
    inside them) and the names of the functions it calls."""
    references: list[Reference] = []
    calls: set[str] = set()
    branches: list[Node] = []
    _scan([tree], False, references, calls, branches)
    while branches:  # a branch's own if() branches come back here
        found: list[Node] = []
        _scan(branches[::-1], True, references, calls, found)
        branches = found
    return tuple(references), frozenset(calls)


def _scan(stack: list[Node], conditional: bool, references: list[Reference], calls: set[str],
          branches: list[Node]) -> None:
    """Depth first in source order (iterative: no recursion limit); the branches of `if()`
    calls are left in `branches` (the hot loop of a template's first rule: kept flat)."""
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        node = pop()
        if isinstance(node, Call):
            name, args = node.name, node.args
            calls.add(name)
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
