"""What a template deploys: resources expanded under each parameter set.

    evaluations(doc, ctx)            -> [Evaluation]        one per parameter set, cached
    deployed_resources(doc, ctx, t)  -> [DeployedResource]  instances of type t, all sets

Expansion walks the template: nested child resources (type and name composed from the
parent), resource-level `copy` (one instance per index; count 0 -> one instance marked not
deployed; unknown count -> one instance with an unknown index), languageVersion 2.0 symbolic
resources (`existing: true` -> not deployed), and `Microsoft.Resources/deployments` with an
inline template (scope `outer`: the parent's parameters and variables; `inner`: its own, filled
from `properties.parameters` evaluated in the parent) or a `templateLink.relativePath` to a
local file (always inner), recursively. Everything else is evaluated lazily: a resource's name,
status and properties are computed when a rule asks for them.

A `DeployedResource`'s `status` combines every `condition` on its path (enclosing deployments,
parent resources, itself) and its copy counts:
  deployed      all conditions are true and none reads a deployer-supplied parameter
  guarded       all true, but some condition reads parameters (the deployer's switch):
                `status.guards` says which condition and which parameter values
  unknown       some condition or count cannot be evaluated (`status.unknown` says why)
  not-deployed  a condition is false, a count is 0, or the resource is `existing`
"""
from __future__ import annotations

import functools
import os
import weakref
from dataclasses import dataclass, field
from typing import Any

from .. import fs
from ..loaders import FileTooLarge, LoadError, decode, join_pointer, load_json
from .evaluator import (DeploymentContext, Frame, Input, ParamUse, Scope, Session, coerce_given, copy_count, evaluate,
                        expand_copy, expression_text, is_copy_block, member)
from .expressions import Node, compile_string
from .parameters import ParameterSet, parameter_sets
from .template import ABSENT, Backref, ResourceDecl, Template, kget, kitem
from .values import INVALID, Unknown, describe, unknown_from

MAX_INSTANCES = 5000  # resource instances per evaluation
MAX_DEPLOYMENT_DEPTH = 12  # nested deployments within nested deployments


@dataclass
class Guard:
    """A `condition` that is true under this parameter set but reads deployer parameters."""

    text: str  # the condition as written
    pointer: str
    document: Any
    uses: tuple[ParamUse, ...]  # the root parameters it read, with their values and sources

    def values(self) -> str:
        """The parameter values the condition reads, with where each comes from."""
        return ", ".join(f"{u.name}={describe(u.value, 60)!s} ({_source_text(u)})" for u in self.uses)

    def describe(self) -> str:
        values = self.values()
        return f"`{self.text}` ({values})" if values else f"`{self.text}`"


def _source_text(use: ParamUse) -> str:
    return {"default": "its default", "cli": "--param", "file": f"from {use.origin}",
            "secret": "a Key Vault reference", "missing": "no value"}.get(use.source, use.source)


@dataclass
class Status:
    state: str  # deployed | guarded | unknown | not-deployed
    reason: str = ""
    guards: list[Guard] = field(default_factory=list)
    unknown: Unknown | None = None

    @property
    def deployed(self) -> bool | None:
        """True (deployed, guarded), False (not deployed), None (unknown)."""
        return {"deployed": True, "guarded": True, "not-deployed": False}.get(self.state)


class Evaluation:
    """One template document evaluated under one parameter set."""

    def __init__(self, document: Any, template: Template, parameter_set: ParameterSet, ctx: Any):
        self.document = document
        self.template = template
        self.parameter_set = parameter_set
        self.ctx = ctx
        self.session = Session()
        self.context = DeploymentContext.from_target(ctx.options.deployment if ctx is not None else None)
        self.root = Frame(self.session, template, parameter_set.inputs(), self.context, True, "root")
        self.frames: list[Frame] = [self.root]
        self.resources: list[DeployedResource] = []
        self.truncated = False
        # Resource instances past MAX_INSTANCES, by lower-cased full type (None when it is an
        # expression): not evaluated, and not checked. Counted from the declarations and their
        # copy counts; what nested deployments among them would deploy is not counted.
        self.skipped: dict[str | None, int] = {}
        self.first_skipped: dict[str | None, ResourceDecl] = {}
        self.skipped_at_least = False  # some count among them is not known: more may be skipped
        self._of_type: dict[str, list[DeployedResource]] = {}
        self._linked: dict[str, Template | None] = {}
        root_file = getattr(document, "abspath", None)
        self._expand(template, Scope(self.root), None, (), 0,
                     frozenset([os.path.normcase(root_file)] if root_file else []))

    @property
    def label(self) -> str | None:
        """The parameter file this evaluation used (None: the template's defaults)."""
        return self.parameter_set.label

    def of_type(self, rtype: str) -> list["DeployedResource"]:
        """The instances of a resource type (looked up once per type: every vault looks for the
        workspaces and access policy resources beside it)."""
        want = rtype.lower()
        found = self._of_type.get(want)
        if found is None:
            found = self._of_type[want] = [r for r in self.resources if isinstance(r.type, str)
                                           and r.type.lower() == want]
        return found

    # ---------------------------------------------------------------------------- expansion

    def _expand(self, template: Template, scope: Scope, parent: "DeployedResource | None",
                chain: tuple["DeployedResource", ...], depth: int, files: frozenset[str]) -> None:
        decls = parent.decl.children if parent is not None else template.resources
        for i, decl in enumerate(decls):
            if len(self.resources) >= MAX_INSTANCES:
                self.truncated = True
                for rest in decls[i:]:
                    self._skip(rest, scope, 1)
                return
            instances = [DeployedResource(self, decl, scope, parent, chain)] if decl.copy is None else \
                self._instances(decl, scope, parent, chain)
            for instance in instances:
                self.resources.append(instance)
                if decl.children:
                    self._expand(template, instance.scope, instance, chain, depth, files)
                if decl.deployment is not None:
                    self._nested(instance, chain, depth, files)

    def _instances(self, decl: ResourceDecl, scope: Scope, parent: "DeployedResource | None",
                   chain: tuple["DeployedResource", ...]) -> list["DeployedResource"]:
        if decl.copy is None:
            return [DeployedResource(self, decl, scope, parent, chain)]
        count = copy_count(decl.copy.count, scope)
        if isinstance(count, Unknown):
            loop_scope = scope.with_copy(decl.copy.name, unknown_from([count]), resource_loop=True)
            return [DeployedResource(self, decl, loop_scope, parent, chain, copy_count=count)]
        if count == 0:
            return [DeployedResource(self, decl, scope.with_copy(decl.copy.name, 0, resource_loop=True),
                                     parent, chain, copy_count=0)]
        room = MAX_INSTANCES - len(self.resources)
        if count > room:
            self.truncated = True
            self._skip(decl, scope, count - room, loop=False)
            count = room
        return [DeployedResource(self, decl, scope.with_copy(decl.copy.name, i, resource_loop=True), parent,
                                 chain, copy_index=i, copy_count=count) for i in range(count)]

    def _skip(self, decl: ResourceDecl, scope: Scope, times: int, loop: bool = True) -> None:
        """Count `times` instances of a declaration (each of its copy loop when `loop`), and
        their nested children, as skipped. A copy count that is not known counts as one."""
        stack = [(decl, times, loop)]
        while stack:
            decl, times, loop = stack.pop()
            count = copy_count(decl.copy.count, scope) if loop and decl.copy is not None else 1
            if not isinstance(count, int):
                count, self.skipped_at_least = 1, True
            times *= count
            if times == 0:
                continue
            rtype = decl.static_type.lower() if decl.static_type else None
            if rtype is None or decl.deployment is not None:
                self.skipped_at_least = True
            self.skipped[rtype] = self.skipped.get(rtype, 0) + times
            self.first_skipped.setdefault(rtype, decl)
            stack.extend((child, times, True) for child in decl.children)

    def _nested(self, deployment: "DeployedResource", chain: tuple["DeployedResource", ...], depth: int,
                files: frozenset[str]) -> None:
        spec = deployment.decl.deployment
        if spec is None or depth >= MAX_DEPLOYMENT_DEPTH:
            return
        template = spec.template
        inner = spec.scope == "inner"
        if template is None and spec.relative_path is not ABSENT:
            template = self._linked_template(deployment, spec.relative_path, files)
            inner = True
            if template is None:
                return
            files = files | {os.path.normcase(getattr(template.document, "abspath", ""))}
        if template is None:
            return
        new_chain = chain + (deployment,)
        if not inner:
            self._expand(template, deployment.scope, None, new_chain, depth + 1, files)
            return
        parent_scope = deployment.scope
        inputs = _nested_inputs(spec, template, parent_scope)
        sub = evaluate(spec.subscription_id, parent_scope) if spec.subscription_id is not ABSENT else ABSENT
        rg = evaluate(spec.resource_group, parent_scope) if spec.resource_group is not ABSENT else ABSENT
        label = f"{parent_scope.frame.label}/{deployment.decl.pointer}#{deployment.copy_index}"
        # (weakly: the context is the frame's, which the evaluation holds)
        name_of = functools.partial(_name_apart, weakref.ref(self), weakref.ref(deployment))
        context = parent_scope.frame.context.nested(sub, rg, name_of, label)
        frame = Frame(self.session, template, inputs, context, False, label)
        frame.deployment = deployment  # its parameters matter only where it deploys (its status)
        self.frames.append(frame)
        self._expand(template, Scope(frame), None, new_chain, depth + 1, files)

    def _name_apart(self, deployment: "DeployedResource") -> Any:
        """A nested deployment's name, for `deployment().name` inside it: evaluated where it is
        first read, as if on its own (as the expansion would): the parameters it reads are not
        those of the expression that reads it, and it starts at no depth."""
        session = self.session
        aside = session.traces, session.depth, session.literals
        session.traces, session.depth, session.literals = [], 0, 0
        try:
            return deployment.name_segment
        finally:
            session.traces, session.depth, session.literals = aside

    def _linked_template(self, deployment: "DeployedResource", relative: Any,
                         files: frozenset[str]) -> Template | None:
        rel = evaluate(relative, deployment.scope)
        source = deployment.decl.template.document if deployment.decl.template else None
        base = getattr(source, "abspath", None)
        if not isinstance(rel, str) or not base:
            return None
        scanned = getattr(self.document, "abspath", None) or base
        # Only inside the scanned template's repository: a path outside it is never read (its
        # resources stay unknown, as for a link to a missing file).
        abspath = fs.confine(rel, os.path.dirname(base), os.path.dirname(scanned))
        if abspath is None:
            return None
        if os.path.normcase(abspath) in files or os.path.normcase(abspath) == os.path.normcase(base):
            return None  # a cycle of links
        if abspath not in self._linked:
            self._linked[abspath] = _load_linked(abspath, self.ctx, self.document.path, rel, source)
        return self._linked[abspath]


def _name_apart(evaluation: "weakref.ref[Evaluation]", deployment: "weakref.ref[DeployedResource]") -> Any:
    """`Evaluation._name_apart` through weak references (see `Evaluation._nested`)."""
    ev, nested = evaluation(), deployment()
    if ev is None or nested is None:
        raise ReferenceError("the evaluation of this deployment was freed")
    return ev._name_apart(nested)


class Anchor(str):
    """A pointer in the scanned document (the deployment that brings in a relativePath-linked
    file) that also says where the text a finding is about is written: `pointer` in `document`,
    the linked file, reached through the deployments of `chain` (outermost first). The engine
    reports such a finding in the linked file (`preflight.engine.to_finding`); anywhere else it
    is the plain pointer."""

    document: Any
    pointer: str
    chain: tuple

    def __new__(cls, anchor: str, document: Any, pointer: str, chain: tuple) -> "Anchor":
        self = super().__new__(cls, anchor)
        self.document, self.pointer, self.chain = document, pointer, chain
        return self

    def __reduce__(self) -> Any:  # never pickles the model it points into
        return (str, (str(self),))

    def links(self) -> list[tuple[Any, str]]:
        """(document, pointer) of each deployment along the chain that links to another file."""
        docs = [d.document for d in self.chain] + [self.document]
        return [(d.document, d.pointer) for i, d in enumerate(self.chain) if docs[i + 1] is not docs[i]]


class LinkedSource:
    """The document of a template reached through `templateLink.relativePath` and not scanned."""

    def __init__(self, path: str, abspath: str):
        self.path = path
        self.abspath = abspath


def _load_linked(abspath: str, ctx: Any, scanned_path: str, rel: str, source: Any) -> Template | None:
    def build() -> Template | None:
        doc = ctx.document_at(abspath) if ctx is not None else None
        if doc is not None:
            return template_of(doc) if doc.error is None else None
        try:
            data = load_json(decode(fs.read(abspath, 8 * 1024 * 1024)))
        except (OSError, FileTooLarge, LoadError, RecursionError, ValueError):
            return None
        shown = os.path.normpath(os.path.join(os.path.dirname(getattr(source, "path", scanned_path)), rel))
        return Template.from_json(data, LinkedSource(shown, abspath))

    if ctx is None:
        return build()
    return ctx.model(f"arm.linked:{abspath}", build, local=True)


def _nested_inputs(spec: Any, template: Template, parent_scope: Scope) -> dict[str, Input]:
    inputs: dict[str, Input] = {}
    raw = spec.parameters
    if isinstance(raw, (str, Node)):
        compiled = compile_string(raw) if isinstance(raw, str) else raw
        if isinstance(compiled, Node):
            raw = evaluate(compiled, parent_scope)
            if isinstance(raw, dict):
                for name, item in raw.items():
                    if isinstance(item, dict) and kitem(item, "value") is not None:
                        inputs[name.lower()] = Input("parent", kget(item, "value"), None)
                return inputs
            for name in template.parameters:
                inputs[name] = Input("parent", unknown_from([raw]) if isinstance(raw, Unknown)
                                     else Unknown.because(INVALID, "nested deployment parameters are not an object"))
            return inputs
    if isinstance(raw, dict):
        for lower, value, secret in _given_parameters(spec):
            inputs[lower] = Input("secret", None) if secret else Input("parent", value, parent_scope)
    if spec.parameters_link is not ABSENT:
        for name in template.parameters:
            inputs.setdefault(name, Input("link", None))
    return inputs


def _given_parameters(spec: Any) -> list[tuple[str, Any, bool]]:
    """`DeploymentSpec.given`: what a literal `properties.parameters` object passes, read from
    it once (a deployment in a copy loop is expanded once per index, under each parameter set)."""
    given = spec.given
    if given is None:
        given = spec.given = []
        for name, item in spec.parameters.items():
            if not isinstance(name, str) or not isinstance(item, dict):
                continue
            value = kitem(item, "value")
            if value is not None:
                given.append((name.lower(), value[1], False))
            elif kitem(item, "reference") is not None:
                given.append((name.lower(), None, True))
    return given


class DeployedResource:
    """One instance of a declared resource under one parameter set; evaluated lazily."""

    evaluation = Backref()  # the Evaluation that expanded it (and holds it)

    def __init__(self, evaluation: Evaluation, decl: ResourceDecl, scope: Scope,
                 parent: "DeployedResource | None", chain: tuple["DeployedResource", ...],
                 copy_index: int | None = None, copy_count: Any = None):
        self.evaluation = evaluation
        self.decl = decl
        self.scope = scope
        self.parent = parent
        self.chain = chain  # enclosing deployments, outermost first
        self.copy_index = copy_index
        self.copy_count = copy_count  # None: no copy loop; int or Unknown
        self._memo: dict[str, tuple[Any, str]] = {}
        self._cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"DeployedResource({self.type!r}, {self.decl.pointer!r})"

    # --------------------------------------------------------------------------- identity

    @property
    def document(self) -> Any:
        """The document that declares this resource (a linked file's, for relativePath links)."""
        return self.decl.template.document if self.decl.template is not None else None

    @property
    def pointer(self) -> str:
        """JSON pointer of the resource in `document`."""
        return self.decl.pointer

    @property
    def local(self) -> bool:
        """Declared in the scanned document itself (not in a linked file)."""
        return self.document is self.evaluation.document or self.document is None

    @property
    def anchor(self) -> str:
        """A pointer into the scanned document: the resource, or the deployment linking to it."""
        if self.local:
            return self.decl.pointer
        anchor = ""
        for outer in self.chain:
            if not outer.local:
                break
            anchor = outer.decl.pointer
        return anchor

    def anchored(self, pointer: str) -> str:
        """`pointer` (in `document`) as a pointer in the scanned document: itself for a local
        resource, else the anchor, saying where in the linked file the text is (`Anchor`)."""
        return pointer if self.local else Anchor(self.anchor, self.document, pointer, self.chain)

    @property
    def type(self) -> Any:
        if "type" not in self._cache:
            self._cache["type"] = self._full_type()
        return self._cache["type"]

    def _full_type(self) -> Any:
        own = self.decl.type
        if isinstance(own, str) and not own.startswith("["):
            value: Any = own
        else:
            value = evaluate(own, self.scope)
        if self.parent is None or not isinstance(value, str):
            return value
        if "." in value.split("/")[0] and "/" in value:
            return value  # a nested child written with its full type
        parent = self.parent.type
        return f"{parent}/{value}" if isinstance(parent, str) else unknown_from([parent])

    @property
    def name_segment(self) -> Any:
        """The `name` as evaluated, before composing it with a parent's."""
        if "own" not in self._cache:
            self._cache["own"] = evaluate(self.decl.name, self.scope)
        return self._cache["own"]

    @property
    def name(self) -> Any:
        """The full name (`vault/add` for a nested `add` child), or Unknown."""
        if "name" not in self._cache:
            own = self.name_segment
            if self.parent is None:
                full = own
            else:
                rtype = self.type
                segments = len(rtype.split("/")) - 1 if isinstance(rtype, str) else None
                own_segments = len(own.split("/")) if isinstance(own, str) else None
                if segments is not None and own_segments == segments:
                    full = own
                else:
                    from .functions import concat
                    parent_name = self.parent.name
                    full = concat(parent_name, "/", own) if isinstance(parent_name, (str, Unknown)) and \
                        isinstance(own, (str, Unknown)) else unknown_from([parent_name, own])
            self._cache["name"] = full
        return self._cache["name"]

    @property
    def name_text(self) -> str:
        """The name as written in the template (for messages when it is not known)."""
        return expression_text(self.decl.name)

    @property
    def bicep_symbol(self) -> tuple[str, str] | None:
        """(symbol, name as written in Bicep) when the resource was compiled from a `.bicep`
        declaration (`resource keyVault ...`), for messages in the file's own terms; else None."""
        symbols = getattr(self.document, "cache", {}).get("bicep.symbols") if self.document is not None else None
        return symbols.get(self.decl.pointer) if symbols else None  # left there by the Bicep front end

    @property
    def api_version(self) -> Any:
        if "api" not in self._cache:
            raw = self.decl.api_version
            self._cache["api"] = None if raw is ABSENT else evaluate(raw, self.scope)
        return self._cache["api"]

    @property
    def existing(self) -> bool:
        return self.decl.existing

    @property
    def parameter_file(self) -> str | None:
        return self.evaluation.label

    @property
    def target(self) -> tuple[Any, Any]:
        """(subscriptionId, resourceGroup) set by the innermost enclosing nested deployment that
        overrides them; None when not overridden (the deployment's own target)."""
        sub: Any = None
        rg: Any = None
        for outer in self.chain:
            spec = outer.decl.deployment
            if spec is None:
                continue
            if spec.subscription_id is not ABSENT:
                sub = outer.get("subscriptionId")
            if spec.resource_group is not ABSENT:
                rg = outer.get("resourceGroup")
        return sub, rg

    # ------------------------------------------------------------------------- properties

    def get(self, path: str) -> Any:
        """The evaluated value at a slash path from the resource root ("properties/sku/name"),
        ABSENT when the template does not set it. Values may be (or hold) Unknowns."""
        return self._lookup(path)[0]

    def pointer_of(self, path: str) -> str:
        """The JSON pointer (in `document`) of the template text that produces `path`: the
        property itself, or the expression or copy loop it comes from."""
        return self._lookup(path)[1]

    def present(self, path: str) -> bool:
        return self.get(path) is not ABSENT

    def _lookup(self, path: str) -> tuple[Any, str]:
        hit = self._memo.get(path)
        if hit is None:
            hit = self._memo[path] = self._walk([p for p in path.split("/") if p])
        return hit

    def _walk(self, segments: list[str]) -> tuple[Any, str]:
        node: Any = self.decl.body
        pointer = self.decl.pointer
        evaluated = False
        for seg in segments:
            if not evaluated:
                if isinstance(node, (str, Node)):
                    compiled = compile_string(node) if isinstance(node, str) else node
                    if isinstance(compiled, Node):
                        node = evaluate(compiled, self.scope)
                        evaluated = True
                    else:
                        return ABSENT, pointer
                elif isinstance(node, dict):
                    found = kitem(node, seg)
                    if found is not None:
                        node, pointer = found[1], join_pointer(pointer, found[0])
                        continue
                    copy = kitem(node, "copy")
                    if copy is not None and is_copy_block(copy[1]):
                        for i, spec in enumerate(copy[1]):
                            name = kget(spec, "name")
                            if isinstance(name, str) and name.lower() == seg.lower():
                                pointer = join_pointer(join_pointer(pointer, copy[0]), i)
                                node = expand_copy(name, kget(spec, "count"), kget(spec, "input"), self.scope)
                                evaluated = True
                                break
                        else:
                            return ABSENT, pointer
                        continue
                    return ABSENT, pointer
                elif isinstance(node, list):
                    if seg.isdigit() and int(seg) < len(node):
                        node, pointer = node[int(seg)], join_pointer(pointer, seg)
                        continue
                    return ABSENT, pointer
                else:
                    return ABSENT, pointer
            # an evaluated value: walk it
            if isinstance(node, Unknown):
                node = member(node, seg)
            elif isinstance(node, dict):
                found = kitem(node, seg)
                if found is None:
                    return ABSENT, pointer
                node = found[1]
            elif isinstance(node, list) and seg.isdigit():
                if int(seg) >= len(node):
                    return ABSENT, pointer
                node = node[int(seg)]
            else:
                return ABSENT, pointer
        if not evaluated:
            node = evaluate(node, self.scope)
        return node, pointer

    def raw(self, path: str) -> Any:
        """The template text at a slash path (no evaluation), or ABSENT."""
        node: Any = self.decl.body
        for seg in [p for p in path.split("/") if p]:
            if isinstance(node, dict):
                node = kget(node, seg)
            elif isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
                node = node[int(seg)]
            else:
                return ABSENT
        return node

    # ---------------------------------------------------------------------------- status

    @property
    def status(self) -> Status:
        if "status" not in self._cache:
            self._cache["status"] = self._status()
        return self._cache["status"]

    @property
    def deployed(self) -> bool | None:
        return self.status.deployed

    def own_condition(self) -> tuple[Any, frozenset[ParamUse]]:
        """This instance's own `condition` (True when it has none) and the parameters it read."""
        if "cond" not in self._cache:
            raw = self.decl.condition
            if raw is ABSENT:
                self._cache["cond"] = (True, frozenset())
            else:
                self._cache["cond"] = self.scope.session.traced(lambda: evaluate(raw, self.scope))
        return self._cache["cond"]

    def _status(self) -> Status:
        if self.decl.existing:
            return Status("not-deployed", "it is declared `existing`: a reference, not a deployment")
        path: list[DeployedResource] = list(self.chain)
        owners: list[DeployedResource] = []
        node: DeployedResource | None = self
        while node is not None:
            owners.append(node)
            node = node.parent
        path += reversed(owners)
        guards: list[Guard] = []
        unknown: Unknown | None = None
        unknown_reason = ""
        for element in path:
            where = "" if element is self else f" of the enclosing {_kind(element)} at {element.pointer}"
            if element.copy_count == 0:
                return Status("not-deployed", f"the copy count{where} is 0")
            if isinstance(element.copy_count, Unknown) and unknown is None:
                unknown, unknown_reason = element.copy_count, f"the copy count{where} is not known"
            value, uses = element.own_condition()
            text = expression_text(element.decl.condition)
            if value is False:
                return Status("not-deployed", f"the condition{where} `{text}` is false")
            if isinstance(value, Unknown):
                if unknown is None:
                    unknown, unknown_reason = value, f"the condition{where} `{text}` cannot be evaluated"
                continue
            if value is not True:
                if unknown is None:
                    unknown = Unknown.because(INVALID, f"condition `{text}` is not a bool")
                    unknown_reason = f"the condition{where} `{text}` is not a bool"
                continue
            root_uses = tuple(sorted({u for u in uses if u.root}, key=lambda u: u.name.lower()))
            if root_uses:
                guards.append(Guard(text, element.decl.pointer, element.document, root_uses))
        if unknown is not None:
            return Status("unknown", unknown_reason, guards, unknown)
        if guards:
            return Status("guarded", "its condition depends on parameters", guards)
        return Status("deployed")


def _kind(resource: DeployedResource) -> str:
    return "deployment" if resource.decl.deployment is not None else "resource"


# ------------------------------------------------------------------------------- the API

def template_of(doc: Any) -> Template:
    """The template model of a document (cached)."""
    cache = getattr(doc, "cache", None)
    if cache is not None and "arm.template" in cache:
        return cache["arm.template"]
    t = Template.from_json(doc.data, doc, "")
    if cache is not None:
        cache["arm.template"] = t
    return t


def parameter_sets_of(doc: Any, ctx: Any) -> list[ParameterSet]:
    """The parameter sets the template is evaluated with (cached per document): the same
    objects as each evaluation's `parameter_set`, without evaluating anything."""
    cache = doc.cache
    if "arm.parameter-sets" not in cache:
        cache["arm.parameter-sets"] = parameter_sets(doc, ctx, set(template_of(doc).parameters))
    return cache["arm.parameter-sets"]


def literal_root_values(doc: Any, ctx: Any, decl: Any) -> list[Any] | None:
    """The values the root template's parameter `decl` takes, one per parameter set that gives
    it one, read as the root frame reads them (`Frame._parameter_value`) but without evaluating:
    a parameter file's or `--param` value coerced to the declared type (`coerce_given`), else,
    when none or null is given, the default. None when one is not literal JSON
    (`is_literal_json`). A value only the deployer knows (a Key Vault secret, a placeholder, a
    linked file) is not among them."""
    values = []
    for parameter_set in parameter_sets_of(doc, ctx):
        given = parameter_set.inputs().get(decl.name.lower())
        if given is not None and (given.value is not None or given.source not in ("file", "cli")):
            if given.source not in ("file", "cli"):
                continue  # unknown offline
            if not is_literal_json(given.value):
                return None
            values.append(coerce_given(given.value, decl.type))
        elif decl.default is not ABSENT:  # (a null given is no value given)
            if not is_literal_json(decl.default):
                return None
            values.append(decl.default)
    return values


def is_literal_json(value: Any) -> bool:
    """JSON the evaluator reads as itself: numbers, booleans, strings that cannot be
    expressions (nor `[[` escapes), and arrays of them."""
    if isinstance(value, str):
        return not value.startswith("[")
    if isinstance(value, (bool, int, float)):
        return True
    return isinstance(value, list) and all(is_literal_json(v) for v in value)


def evaluations(doc: Any, ctx: Any) -> list[Evaluation]:
    """The template evaluated under each of its parameter sets (cached per document)."""
    cache = doc.cache
    if "arm.evaluations" not in cache:
        template = template_of(doc)
        cache["arm.evaluations"] = [Evaluation(doc, template, s, ctx) for s in parameter_sets_of(doc, ctx)]
    return cache["arm.evaluations"]


def deployed_resources(doc: Any, ctx: Any, rtype: str | None = None) -> list[DeployedResource]:
    """Every resource instance of `rtype` (case-insensitive; all types when None) under every
    parameter set, including ones that are not deployed (check `resource.deployed`)."""
    if rtype and not may_deploy(doc, rtype):
        return []  # no evaluation can have an instance of this type (see possible_types)
    out: list[DeployedResource] = []
    for ev in evaluations(doc, ctx):
        out.extend(ev.of_type(rtype) if rtype else ev.resources)
    return out


def may_deploy(doc: Any, rtype: str) -> bool:
    """False when no evaluation of the template can have a resource of type `rtype`
    (case-insensitive), whatever the parameters: see `possible_types`."""
    types = possible_types(doc)
    return types is None or rtype.lower() in types


def possible_types(doc: Any) -> frozenset[str] | None:
    """The lower-cased full types of every resource the template declares, in itself and in its
    inline nested templates (cached), or None when that set is not fixed by the text.

    It is fixed when every declared type is literal text (not an expression, not a tree) and
    no deployment links to another file (`templateLink.relativePath`). Expansion then creates
    resources only from these declarations, and gives each the type `DeployedResource.type`
    computes from the same literals (a child's composed with its parent's, as
    `_full_type` does), so `Evaluation.of_type(t)` is empty for any `t` not in the set.
    (Expansion stops earlier than this walk at its depth and instance limits: it yields a
    subset.) Registry and URI links deploy nothing offline."""
    cache = getattr(doc, "cache", None)
    if cache is not None and "arm.possible-types" in cache:
        return cache["arm.possible-types"]
    types = _declared_types(template_of(doc))
    if cache is not None:
        cache["arm.possible-types"] = types
    return types


def _declared_types(root: Template) -> frozenset[str] | None:
    """Walks the declarations as `Evaluation._expand` does: each template's resources, their
    children (under the parent's type), and the inline templates of deployments."""
    found: set[str] = set()
    work: list[tuple[ResourceDecl, str | None]] = [(decl, None) for decl in root.resources]
    while work:
        decl, parent = work.pop()
        own = decl.type
        if not isinstance(own, str) or own.startswith("["):
            return None
        if parent is None or ("." in own.split("/")[0] and "/" in own):
            full = own
        else:
            full = f"{parent}/{own}"
        found.add(full.lower())
        work.extend((child, full) for child in decl.children)
        spec = decl.deployment
        if spec is not None:
            if spec.template is not None:
                work.extend((nested, None) for nested in spec.template.resources)
            elif spec.relative_path is not ABSENT:
                return None
    return frozenset(found)
