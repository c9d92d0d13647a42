"""Evaluating template values: `evaluate(value, scope) -> known value | Unknown`.

`value` is a raw template value (a JSON value whose strings may be `[...]` expressions; objects
may hold property-level `copy` loops) or an expression tree from `preflight.arm.expressions`.
The result is a plain Python value, possibly holding Unknowns inside containers, or an
`Unknown` (see `preflight.arm.values`). Nothing here raises on bad input: an expression ARM
would reject evaluates to an Unknown that says so.

A `Scope` is where an expression is evaluated:
  Frame    one template's parameters (with the source of each value), variables (memoised,
           cycles detected), user functions, and the deployment context
           (`subscription()`, `resourceGroup()`, ... fields known only when configured)
  copy     the copy-loop indexes in effect (`copyIndex()` / `copyIndex('loop')`)
  lambdas  lambda variables in effect (`lambdaVariables('x')`)
A `Session` is shared by the frames of one evaluation (a template under one parameter set): it
bounds the work (`MAX_STEPS`), the depth (`MAX_DEPTH`), and records which parameters an
evaluation read (`session.traced(...)`), which is how rules tell a parameter-driven `condition`
from a constant one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..contract import DeploymentTarget
from . import functions as _functions
from .expressions import Call, Index, Invalid, Literal, Member, Node, compile_string, template_paths, to_text
from .references import expression_facts
from .template import ABSENT, Backref, FunctionDecl, ParameterDecl, Template, kget, kitem
from .values import (CONTEXT, INVALID, LIMIT, LINK, MAX_VALUE_SIZE, OPAQUE, PARAMETER, PLACEHOLDER, RUNTIME, SECRET,
                     UNSUPPORTED, ResourceRef, RuntimeValue, Unknown, equal3, key_of, leaf_size,
                     pipeline_substituted, type_name, unknown_from, value_size)

MAX_STEPS = 400_000  # expression nodes evaluated per session (one template x one parameter set)
MAX_DEPTH = 150  # nested evaluations: variables of variables, user functions, lambdas
MAX_COPY = 800  # ARM's limit for one copy loop
SETTLE_DEPTH = 16  # declarations naming each other deeper than this are evaluated deepest first


class EvalError(Exception):
    """An expression ARM would reject at deployment; becomes Unknown(INVALID)."""


class ParamUse:
    """One parameter read during an evaluation (one object per frame and parameter, so sets
    of uses compare by identity)."""

    __slots__ = ("name", "source", "origin", "root", "value")

    def __init__(self, name: str, source: str, origin: str | None, root: bool, value: Any):
        self.name = name
        self.source = source  # cli | file | default | parent | missing | secret | link | argument
        self.origin = origin  # the parameter file (for `file`), else None
        self.root = root  # a parameter of the scanned template (its value is the deployer's choice)
        self.value = value

    def __repr__(self) -> str:
        return f"ParamUse({self.name!r}, {self.source!r}, {self.value!r})"


@dataclass
class Input:
    """Where a parameter's value comes from."""

    source: str  # cli | file | parent | secret | placeholder | link | argument
    value: Any  # literal value (cli/file/argument) or raw template value (parent)
    scope: "Scope | None" = None  # for `parent`: where to evaluate `value`
    origin: str | None = None  # parameter file label


class Session:
    """Shared by the frames of one evaluation: work bounds and parameter tracing."""

    def __init__(self, max_steps: int = MAX_STEPS):
        self.steps = 0
        self.max_steps = max_steps
        self.depth = 0
        self.traces: list[set[ParamUse]] = []
        self.exhausted = False
        self.literals = 0  # template objects and arrays being evaluated (see `evaluate`)
        self.sizes: dict[int, tuple[Any, int]] = {}  # id -> (value, size) of memoised values
        # The last value `bounded` measured without keeping it, and its size: a declaration's
        # value is measured where `evaluate` builds it, then memoised (kept) as it is.
        self.last_measured: tuple[Any, int] | None = None

    def size(self, value: Any) -> int:
        """`value_size`, with the work charged to the budget."""
        size, work = value_size(value, self.sizes, MAX_VALUE_SIZE)
        self.steps += work >> 4
        return size

    def bounded(self, value: Any, keep: bool = False) -> Any:
        """The value, or Unknown(LIMIT) when it is over MAX_VALUE_SIZE. With `keep` (a memoised
        value, alive for the session anyway), its size is remembered for the values built from it."""
        if not isinstance(value, (dict, list)):
            return value
        last = self.last_measured
        size = last[1] if last is not None and last[0] is value else self.size(value)
        if size > MAX_VALUE_SIZE:
            return Unknown.because(LIMIT, f"a value of over {MAX_VALUE_SIZE:,} elements")
        if keep:
            self.sizes[id(value)] = (value, size)
        else:
            self.last_measured = (value, size)
        return value

    def produced(self, value: Any) -> Any:
        """A function's result, its size charged to the budget: the work of an evaluation grows
        with what its functions build, so a `reduce()` over a growing string runs out of budget
        rather than time and memory. Unknown(LIMIT) for a value over MAX_VALUE_SIZE. A memoised
        value a function passes on (`coalesce(variables('x'))`) was built and charged before."""
        if isinstance(value, (dict, list)):
            known = self.sizes.get(id(value))
            if known is not None and known[0] is value:
                return value
            size = self.size(value)
            if size > MAX_VALUE_SIZE:
                return Unknown.because(LIMIT, f"a value of over {MAX_VALUE_SIZE:,} elements")
        else:
            size = leaf_size(value)
        self.steps += size
        return value

    def traced(self, compute: Callable[..., Any], *args: Any) -> tuple[Any, frozenset[ParamUse]]:
        """Run `compute(*args)`, returning its value and the parameters it read. A read is noted
        in the innermost trace only; each trace passes what it holds to the one around it when it
        ends (also when `compute` raises), so every enclosing trace gets it once, not once per
        level at every read. Traces are nested as deep as declarations read one another."""
        uses: set[ParamUse] = set()
        traces = self.traces  # `Frame._settle` sets other traces aside meanwhile, then puts these back
        traces.append(uses)
        try:
            value = compute(*args)
        finally:
            traces.pop()
            if traces:
                traces[-1] |= uses
        return value, frozenset(uses)

    def note(self, uses: frozenset[ParamUse] | set[ParamUse]) -> None:
        if self.traces:
            self.traces[-1] |= uses


@dataclass
class DeploymentContext:
    """What `subscription()`, `resourceGroup()`, `tenant()`, `deployment()` return."""

    subscription_id: Any
    resource_group: Any
    location: Any
    tenant_id: Any
    deployment_name: Any  # read it with `name()`
    tag: str = ""  # distinguishes the context of a nested deployment in symbolic keys
    name_of: Callable[[], Any] | None = None  # evaluates `deployment_name` when it is first read

    def name(self) -> Any:
        """`deployment().name`. A nested deployment's own name is evaluated only when an
        expression inside it reads it: many never do, and a rule that needs it asks for it."""
        if self.name_of is not None:
            self.deployment_name, self.name_of = self.name_of(), None
        return self.deployment_name

    @classmethod
    def from_target(cls, target: DeploymentTarget | None = None) -> "DeploymentContext":
        """Known fields from the scan's deployment target (Options.deployment: set by the live
        check's CLI options), Unknown otherwise."""
        target = target or DeploymentTarget()

        def pick(value: str | None, what: str, symbol: str) -> Any:
            return value if isinstance(value, str) and value else Unknown.because(CONTEXT, what, key=symbol)

        return cls(pick(target.subscription, "the subscription id", "subscription().subscriptionId"),
                   pick(target.resource_group, "the resource group name", "resourceGroup().name"),
                   pick(target.location, "the resource group's location", "resourceGroup().location"),
                   pick(target.tenant, "the tenant id", "tenant().tenantId"),
                   Unknown.because(CONTEXT, "the deployment name", key="deployment().name"))

    def nested(self, subscription: Any, resource_group: Any, name_of: Callable[[], Any],
               tag: str) -> "DeploymentContext":
        """The context inside a nested deployment (its own target, and its name from `name_of`)."""
        sub = self.subscription_id if subscription is ABSENT else subscription
        rg = self.resource_group if resource_group is ABSENT else resource_group
        location = self.location if resource_group is ABSENT and subscription is ABSENT else \
            Unknown.because(CONTEXT, "the target resource group's location", key=f"{tag}:resourceGroup().location")
        return DeploymentContext(sub, rg, location, self.tenant_id, None, tag, name_of)


class Frame:
    """One template instance's evaluation context."""

    deployment = Backref()  # the nested deployment (a DeployedResource) that evaluates it

    def __init__(self, session: Session, template: Template, inputs: dict[str, Input],
                 context: DeploymentContext, root: bool = True, label: str = ""):
        self.session = session
        self.template = template
        self.inputs = inputs  # by lower-cased parameter name
        self.context = context
        self.root = root
        self.label = label  # distinguishes frames in symbolic keys
        self.deployment = None
        self._params: dict[str, tuple[Any, frozenset[ParamUse]]] = {}
        self._vars: dict[str, tuple[Any, frozenset[ParamUse]]] = {}
        self._busy: set[str | tuple[str, str]] = set()  # variables by name, parameters as ("p", name)
        self.cycles: set[str] = set()  # variables (or parameters) that refer to themselves
        self.undeclared: set[tuple[str, str]] = set()  # ("parameter"|"variable", name) read but not declared
        self._settling = False
        self._nulled: dict[str, bool] = {}  # lower-cased name -> whether its given value is null

    # ------------------------------------------------------------------------ parameters

    def parameter(self, name: str) -> Any:
        lower = name.lower()
        hit = self._params.get(lower)
        if hit is None:
            busy = ("p", lower)
            if busy in self._busy:
                self.cycles.add(name)
                return Unknown.because(INVALID, f"parameter '{name}' refers to itself")
            if lower not in self.inputs:  # one given from outside names nothing to settle (`_references`)
                self._settle(busy)
                hit = self._params.get(lower)
            if hit is None:
                session = self.session
                self._busy.add(busy)
                try:
                    value, uses = session.traced(self._parameter_value, name, lower)
                finally:
                    self._busy.discard(busy)
                value = session.bounded(value, keep=True)
                hit = self._params[lower] = (value, uses | {self._use(name, lower, value)})
        self.session.note(hit[1])
        return hit[0]

    def parameter_source(self, name: str) -> tuple[str, str | None]:
        """(source, origin) of a parameter's value: cli, file, parent, default, missing, ..."""
        lower = name.lower()
        inp = self.inputs.get(lower)
        if inp is not None and not self._given_null(name, lower, inp):
            return inp.source, inp.origin
        decl = self.template.parameters.get(lower)
        if decl is not None and decl.default is not ABSENT:
            return "default", None
        if decl is not None and decl.nullable:
            return "default", None
        return "missing", None

    def _given_null(self, name: str, lower: str, inp: Input) -> bool:
        """Whether the value given for a parameter is null: ARM then deploys as if none was
        given (the default, null for a nullable parameter, else a missing parameter)."""
        if lower not in self._nulled:
            if inp.source not in ("parent", "file", "cli"):
                return False
            if inp.value is None:
                return True
            if inp.source != "parent" or ("p", lower) in self._busy:
                return False
            self.parameter(name)  # an expression: null only once evaluated
        return self._nulled.get(lower, False)

    def _use(self, name: str, lower: str, value: Any) -> ParamUse:
        source, origin = self.parameter_source(name)
        decl = self.template.parameters.get(lower)
        return ParamUse(decl.name if decl else name, source, origin, self.root, value)

    def _parameter_value(self, name: str, lower: str) -> Any:
        decl = self.template.parameters.get(lower)
        if decl is None:
            self.undeclared.add(("parameter", name))
            return Unknown.because(INVALID, f"parameter '{name}' is not declared in the template")
        inp = self.inputs.get(lower)
        if inp is not None:
            given = self._given_value(decl, lower, inp)
            self._nulled[lower] = given is None
            if given is not None:
                return given
        if decl.default is not ABSENT:
            return evaluate(decl.default, Scope(self))
        if decl.nullable:
            return None
        if self.root:
            return Unknown.because(PARAMETER, decl.name, key=f"{self.label}:param:{lower}")
        passes = "passes null for" if inp is not None else "does not pass"
        return Unknown.because(INVALID, f"the nested deployment {passes} parameter '{decl.name}'",
                               key=f"{self.label}:param:{lower}")

    def _given_value(self, decl: ParameterDecl, lower: str, inp: Input) -> Any:
        """The value given from outside the template; None when it is null (not given)."""
        if inp.source == "parent":
            return evaluate(inp.value, inp.scope) if inp.scope is not None else inp.value
        if inp.source == "secret":
            return Unknown.because(SECRET, decl.name, key=f"{self.label}:secret:{lower}")
        if inp.source == "placeholder":
            return Unknown.because(PLACEHOLDER, f"parameter '{decl.name}' ({inp.value!r} in {inp.origin}) is a "
                                   f"placeholder that "
                                   f"the test harness replaces",
                                   key=f"{self.label}:placeholder:{lower}")
        if inp.source == "link":
            return Unknown.because(LINK, f"the linked parameter file ({decl.name})", key=f"{self.label}:link:{lower}")
        return coerce_given(inp.value, decl.type)

    # ------------------------------------------------------------------------- variables

    def variable(self, name: str) -> Any:
        lower = name.lower()
        hit = self._vars.get(lower)
        if hit is None:
            if lower in self._busy:
                self.cycles.add(name)
                return Unknown.because(INVALID, f"variable '{name}' refers to itself (a cycle)")
            decl = self.template.variables.get(lower)
            if decl is None:
                self.undeclared.add(("variable", name))
                return Unknown.because(INVALID, f"variable '{name}' is not declared in the template")
            self._settle(("v", lower))
            hit = self._vars.get(lower)
            if hit is None:
                session = self.session
                self._busy.add(lower)
                try:
                    value, uses = session.traced(self._variable_value, decl)
                finally:
                    self._busy.discard(lower)
                hit = self._vars[lower] = (session.bounded(value, keep=True), uses)
        self.session.note(hit[1])
        return hit[0]

    # ------------------------------------------------------------ chains of declarations

    def _settle(self, start: tuple[str, str]) -> None:
        """Evaluate what a declaration refers to by name (`variables('a')`, `parameters('b')`
        written as literals) before the declaration itself, deepest first, with an explicit
        stack. Evaluating `v140 = variables('v139')`, ... `v1 = variables('v0')` one inside the
        other would nest ten Python frames per link; settled in this order, each finds the ones
        it reads memoised, however long the chain. Only chains deeper than SETTLE_DEPTH are
        settled: in a shallow one, a declaration an untaken `if()` branch names is not evaluated.
        Parameter reads are not traced meanwhile: they belong to whoever reads the declaration."""
        if self._settling or _reach(self.template, start) <= SETTLE_DEPTH:
            return  # no chain from here can be deeper (see `_reach`)
        order: list[tuple[str, str]] = []  # post-order: every declaration after those it reads
        seen = {start}
        stack = [(start, iter(self._references(start)))]
        deepest = 1
        while stack:
            for ref in stack[-1][1]:
                if ref not in seen and not self._settled(ref):
                    seen.add(ref)
                    stack.append((ref, iter(self._references(ref))))
                    deepest = max(deepest, len(stack))
                    break
            else:
                order.append(stack.pop()[0])
        if deepest <= SETTLE_DEPTH:
            return
        session = self.session
        traces, session.traces = session.traces, []
        self._settling = True
        try:
            for kind, lower in order[:-1]:
                decl = (self.template.variables if kind == "v" else self.template.parameters)[lower]
                self.variable(decl.name) if kind == "v" else self.parameter(decl.name)
        finally:
            self._settling = False
            session.traces = traces

    def _settled(self, ref: tuple[str, str]) -> bool:
        return ref[1] in (self._vars if ref[0] == "v" else self._params)

    def _references(self, ref: tuple[str, str]) -> list[tuple[str, str]]:
        """The declared variables and parameters a declaration names literally in this frame:
        a parameter given a value from outside names nothing here."""
        if ref[0] == "p" and ref[1] in self.inputs:
            return []
        return _declaration_references(self.template, ref)

    def _variable_value(self, decl) -> Any:
        if decl.copy is None:
            return evaluate(decl.value, Scope(self))
        return expand_copy(decl.copy.name or decl.name, decl.copy.count, decl.copy.input, Scope(self))


def coerce_given(value: Any, declared: str | None) -> Any:
    """A literal parameter value as ARM reads it for the declared type (`--param n=3` for a
    string parameter is the string '3')."""
    if declared in ("string", "securestring") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if declared in ("string", "securestring") and isinstance(value, bool):
        return "true" if value else "false"
    if declared == "int" and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return value
    if declared == "bool" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _declaration_references(template: Template, ref: tuple[str, str]) -> list[tuple[str, str]]:
    """The declared variables and parameters a declaration (("v" | "p", lower-cased name))
    names literally: in a variable's value (or its copy's input and count), in a parameter's
    default. Read once per template (kept with it), not once per frame that evaluates it."""
    table: dict[tuple[str, str], list[tuple[str, str]]] = template.derived.setdefault("declaration-references", {})
    found = table.get(ref)
    if found is None:
        kind, lower = ref
        raw: Any = ABSENT
        if kind == "v":
            decl = template.variables.get(lower)
            if decl is not None:
                raw = decl.value if decl.copy is None else [decl.copy.input, decl.copy.count]
        else:
            pdecl = template.parameters.get(lower)
            raw = pdecl.default if pdecl is not None else ABSENT
        found = []
        for _, source in template_paths(raw, expressions_only=True):
            for named in expression_facts(source).in_order():  # read once per expression text or tree
                name = named.name.lower()
                if named.kind == "variables":
                    if name in template.variables:
                        found.append(("v", name))
                elif name in template.parameters:
                    found.append(("p", name))
        table[ref] = found
    return found


def _reach(template: Template, start: tuple[str, str]) -> int:
    """How many declarations `start` reaches through `_declaration_references` (itself
    included), counted up to SETTLE_DEPTH + 1 (kept with the template). A chain `Frame._settle`
    follows is a path of distinct declarations among them (a frame only drops references: those
    of parameters given from outside, those of declarations already evaluated), so a start that
    reaches no more than SETTLE_DEPTH needs no walk in any frame."""
    counts: dict[tuple[str, str], int] = template.derived.setdefault("declaration-reach", {})
    count = counts.get(start)
    if count is None:
        seen = {start}
        pending = [start]
        while pending and len(seen) <= SETTLE_DEPTH:
            for ref in _declaration_references(template, pending.pop()):
                if ref not in seen:
                    seen.add(ref)
                    pending.append(ref)
        count = counts[start] = len(seen)
    return count


class Scope:
    """Where an expression is evaluated: a frame, copy indexes, lambda variables."""

    __slots__ = ("frame", "copy", "lambdas")

    def __init__(self, frame: Frame, copy: dict[str, Any] | None = None, lambdas: dict[str, Any] | None = None):
        self.frame = frame
        self.copy = copy or {}
        self.lambdas = lambdas or {}

    def with_copy(self, name: str | None, index: Any, resource_loop: bool = False) -> "Scope":
        copy = dict(self.copy)
        if name:
            copy[name.lower()] = index
        if resource_loop or not name:
            copy[""] = index
        return Scope(self.frame, copy, self.lambdas)

    def with_lambdas(self, bindings: dict[str, Any]) -> "Scope":
        lambdas = dict(self.lambdas)
        lambdas.update({k.lower(): v for k, v in bindings.items()})
        return Scope(self.frame, self.copy, lambdas)

    @property
    def session(self) -> Session:
        return self.frame.session


def standalone_scope(template: Template, parameters: dict[str, Any] | None = None,
                     context: DeploymentContext | None = None) -> Scope:
    """A scope for evaluating one template on its own, with literal parameter values."""
    inputs = {k.lower(): Input("cli", v) for k, v in (parameters or {}).items()}
    return Scope(Frame(Session(), template, inputs, context or DeploymentContext.from_target(), True, "root"))


# ----------------------------------------------------------------------------- evaluation

def evaluate(value: Any, scope: Scope) -> Any:
    """Evaluate a raw template value (or an expression tree) deeply."""
    if isinstance(value, str):
        compiled = compile_string(value)
        if isinstance(compiled, str):
            return pipeline_substituted(compiled) if "#_" in compiled else compiled
        return evaluate_node(compiled, scope)
    if isinstance(value, (dict, list)):
        session = scope.frame.session
        if session.depth >= MAX_DEPTH:
            return Unknown.because(LIMIT, f"values nested deeper than {MAX_DEPTH} levels")
        session.depth += 1
        session.literals += 1
        try:
            if isinstance(value, dict):
                result: Any = _evaluate_object(value, scope)
            else:
                result = [evaluate(v, scope) for v in value]
        finally:
            session.depth -= 1
            session.literals -= 1
        # The outermost object is measured; the values inside it were measured where they were
        # made (function results, variables, parameters).
        return session.bounded(result) if session.literals == 0 else result
    if isinstance(value, Node):
        return evaluate_node(value, scope)
    return value


def is_copy_block(value: Any) -> bool:
    """A property-level `copy` array: [{name, count, input}, ...]."""
    return isinstance(value, list) and bool(value) and all(
        isinstance(s, dict) and kitem(s, "name") is not None and kitem(s, "input") is not None for s in value)


def _evaluate_object(obj: dict, scope: Scope) -> Any:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == "copy" and is_copy_block(v):
            for spec in v:
                name = kget(spec, "name")
                if isinstance(name, str):
                    out[name] = expand_copy(name, kget(spec, "count"), kget(spec, "input"), scope)
            continue
        out[k] = evaluate(v, scope)
    return out


def copy_count(raw: Any, scope: Scope) -> Any:
    """A copy loop's count: an int in 0..800, or Unknown (unknown, too large, or invalid)."""
    count = evaluate(raw, scope)
    if isinstance(count, Unknown):
        return count
    if isinstance(count, bool) or not isinstance(count, int):
        if isinstance(count, float) and count.is_integer():
            count = int(count)
        else:
            return Unknown.because(INVALID, f"copy count {count!r} is not an integer")
    if count < 0:
        return Unknown.because(INVALID, f"copy count {count} is negative")
    if count > MAX_COPY:
        return Unknown.because(LIMIT, f"copy count {count} is over ARM's limit of {MAX_COPY}")
    return count


def expand_copy(name: str, count_raw: Any, input_raw: Any, scope: Scope) -> Any:
    """A property or variable copy loop: the list of `input` evaluated for each index."""
    count = copy_count(count_raw, scope)
    if isinstance(count, Unknown):
        return unknown_from([count])
    return [evaluate(input_raw, scope.with_copy(name, i)) for i in range(count)]


def evaluate_node(node: Node, scope: Scope) -> Any:
    session = scope.frame.session
    steps = session.steps = session.steps + 1
    if steps > session.max_steps:
        session.exhausted = True
        return Unknown.because(LIMIT, "the evaluation budget for this template was exhausted")
    if isinstance(node, Literal):
        value = node.value
        return pipeline_substituted(value) if isinstance(value, str) and "#_" in value else value
    if session.depth >= MAX_DEPTH:
        return Unknown.because(LIMIT, f"expressions nested deeper than {MAX_DEPTH} levels")
    session.depth += 1
    try:
        if isinstance(node, Call):
            return _call(node, scope)
        if isinstance(node, Member):
            return member(evaluate_node(node.target, scope), node.name)
        if isinstance(node, Index):
            return index(evaluate_node(node.target, scope), evaluate_node(node.index, scope))
        if isinstance(node, Invalid):
            return Unknown.because(INVALID, f"invalid expression {node.text!r}: {node.error}")
        return Unknown.because(INVALID, f"not an expression: {node!r}")
    except RecursionError:
        # Chains of declarations are settled shallow (`Frame._settle`); what cannot be seen
        # before evaluating (`variables(concat('v', ...))`, lambdas and user functions within
        # each other) may still outgrow Python's stack before MAX_DEPTH: the innermost
        # expression becomes unknown, and the rest of the template is evaluated as usual.
        return Unknown.because(LIMIT, "expressions nested deeper than preflight evaluates")
    finally:
        session.depth -= 1


def member(target: Any, name: str) -> Any:
    """`target.name`: object properties are matched case-insensitively."""
    if isinstance(target, RuntimeValue):
        return target.member(name)
    if isinstance(target, Unknown):
        return Unknown(target.needs, f"{target.key}.{name.lower()}" if target.key else None)
    if isinstance(target, dict):
        found = kitem(target, name)
        if found is None:
            return Unknown.because(INVALID, f"the object has no property '{name}'")
        return found[1]
    return Unknown.because(INVALID, f"cannot read property '{name}' of a {type_name(target)}")


def index(target: Any, key: Any) -> Any:
    """`target[key]`: an array element or an object property."""
    if isinstance(target, RuntimeValue) and not isinstance(key, Unknown):
        return target.member(key)
    if isinstance(target, Unknown) or isinstance(key, Unknown):
        return unknown_from([target, key],
                            f"{key_of(target)}[{key_of(key)}]" if key_of(target) and key_of(key) else None)
    if isinstance(target, list) and isinstance(key, int) and not isinstance(key, bool):
        if 0 <= key < len(target):
            return target[key]
        return Unknown.because(INVALID, f"index {key} is outside the array (length {len(target)})")
    if isinstance(target, dict) and isinstance(key, str):
        found = kitem(target, key)
        return found[1] if found else Unknown.because(INVALID, f"the object has no property '{key}'")
    if isinstance(target, str) and isinstance(key, int) and 0 <= key < len(target):
        return target[key]
    return Unknown.because(INVALID, f"cannot index a {type_name(target)} with {type_name(key)}")


def _call(node: Call, scope: Scope) -> Any:
    name = node.name
    special = _SCOPED.get(name)
    if special is not None:
        return special(node, scope)
    spec = _functions.FUNCTIONS.get(name)
    if spec is None:
        if name.startswith("list"):
            return _runtime(name, node, scope)
        if "." in name:
            return _user_function(node, scope)
        return Unknown.because(UNSUPPORTED, f"{node.spelling}()")
    session = scope.frame.session
    if spec.mode == "lazy":
        try:
            return session.produced(spec.impl(node.args, scope, evaluate_node))
        except _functions.OverLimit as exc:
            return Unknown.because(LIMIT, f"{node.spelling}(): {exc}")
        except (EvalError, _functions.FunctionError) as exc:
            return Unknown.because(INVALID, f"{node.spelling}(): {exc}")
        except (TypeError, ValueError, ArithmeticError, RecursionError, IndexError, KeyError) as exc:
            return Unknown.because(INVALID, f"{node.spelling}(): {type(exc).__name__}: {exc}")
    args = [evaluate_node(a, scope) for a in node.args]
    if not spec.min_args <= len(args) <= spec.max_args:
        return Unknown.because(INVALID, f"{node.spelling}() takes {_arity(spec)} arguments, got {len(args)}")
    if spec.mode == "strict":
        for a in args:
            if isinstance(a, Unknown):
                keys = [key_of(x) for x in args]
                key = f"{name}({','.join(k or '' for k in keys)})" if all(keys) and spec.deterministic else None
                return unknown_from(args, key)
    # Every function's work grows with its arguments: their size is charged to the budget (a
    # step per 16 nodes read), and arguments over the size bound (many large arrays to
    # concatenate) are not combined at all. What a function builds is bounded before it is
    # built (`functions.OverLimit`), and charged by its size once built.
    size = 1  # `Session.size(args)`, written out for arguments that hold no container (most)
    for a in args:
        if isinstance(a, str):
            size += 1 + len(a) // 64
        elif isinstance(a, (dict, list)):
            size = session.size(args)
            break
        else:
            size += leaf_size(a)
    else:
        session.steps += len(args) >> 3  # the work `value_size` charges for them: 2 items each
    if size > MAX_VALUE_SIZE:
        return Unknown.because(LIMIT, f"{node.spelling}() of values over {MAX_VALUE_SIZE:,} elements")
    session.steps += size >> 4
    try:
        result = spec.impl(*args)
        for a in args:  # an argument passed on as the result was charged as it was made
            if result is a:
                return result
        return session.produced(result)
    except _functions.OpaqueResult:
        keys = [key_of(x) for x in args]
        return Unknown.because(OPAQUE, f"{node.spelling}(…)",
                               key=f"{name}({','.join(k or '' for k in keys)})" if all(keys) and spec.deterministic
                               else None,
                               parts=None)
    except _functions.OverLimit as exc:
        return Unknown.because(LIMIT, f"{node.spelling}(): {exc}")
    except (EvalError, _functions.FunctionError) as exc:
        return Unknown.because(INVALID, f"{node.spelling}(): {exc}")
    except (TypeError, ValueError, ArithmeticError, OverflowError, RecursionError, IndexError, KeyError) as exc:
        return Unknown.because(INVALID, f"{node.spelling}(): {type(exc).__name__}: {exc}")


def _arity(spec) -> str:
    if spec.max_args >= 99:
        return f"at least {spec.min_args}"
    if spec.min_args == spec.max_args:
        return str(spec.min_args)
    return f"{spec.min_args} to {spec.max_args}"


def _literal_arg(node: Call, i: int, scope: Scope) -> Any:
    if i >= len(node.args):
        return ABSENT
    return evaluate_node(node.args[i], scope)


# ------------------------------------------------------------------ scope-aware functions

def _parameters(node: Call, scope: Scope) -> Any:
    name = _literal_arg(node, 0, scope)
    if isinstance(name, Unknown):
        return unknown_from([name])
    if not isinstance(name, str) or len(node.args) != 1:
        return Unknown.because(INVALID, "parameters() takes one parameter name")
    return scope.frame.parameter(name)


def _variables(node: Call, scope: Scope) -> Any:
    name = _literal_arg(node, 0, scope)
    if isinstance(name, Unknown):
        return unknown_from([name])
    if not isinstance(name, str) or len(node.args) != 1:
        return Unknown.because(INVALID, "variables() takes one variable name")
    return scope.frame.variable(name)


def _copy_index(node: Call, scope: Scope) -> Any:
    args = [evaluate_node(a, scope) for a in node.args]
    if len(args) > 2:
        return Unknown.because(INVALID, "copyIndex() takes at most 2 arguments")
    loop, offset = "", 0
    for a in args:
        if isinstance(a, Unknown):
            return unknown_from([a])
        if isinstance(a, str):
            loop = a.lower()
        elif isinstance(a, int) and not isinstance(a, bool):
            offset = a
        else:
            return Unknown.because(INVALID, f"copyIndex() argument {a!r} is neither a loop name nor an offset")
    if loop not in scope.copy:
        return Unknown.because(INVALID, f"copyIndex({repr(loop) if loop else ''}) is used outside its copy loop")
    value = scope.copy[loop]
    if isinstance(value, Unknown):
        return value
    return value + offset


def _lambda_variables(node: Call, scope: Scope) -> Any:
    name = _literal_arg(node, 0, scope)
    if isinstance(name, str) and name.lower() in scope.lambdas:
        return scope.lambdas[name.lower()]
    return Unknown.because(INVALID, f"lambdaVariables({name!r}) is used outside its lambda")


def _context_object(node: Call, scope: Scope) -> Any:
    ctx = scope.frame.context
    tag = ctx.tag
    name = node.name
    if node.args:
        return Unknown.because(CONTEXT, f"{node.spelling}(…)", key=f"{tag}:{name}({len(node.args)})")

    def u(what: str, symbol: str) -> Unknown:
        return Unknown.because(CONTEXT, what, key=f"{tag}:{symbol}" if tag else symbol)

    sub_id = ctx.subscription_id
    if name == "subscription":
        return {"id": _id_text(["/subscriptions/", sub_id]), "subscriptionId": sub_id, "tenantId": ctx.tenant_id,
                "displayName": u("the subscription's display name", "subscription().displayName")}
    if name == "resourcegroup":
        rg = ctx.resource_group
        return {"id": _id_text(["/subscriptions/", sub_id, "/resourceGroups/", rg]), "name": rg,
                "type": "Microsoft.Resources/resourceGroups", "location": ctx.location,
                "managedBy": u("the resource group's managedBy", "resourceGroup().managedBy"),
                "tags": u("the resource group's tags", "resourceGroup().tags"),
                "properties": {"provisioningState": "Succeeded"}}
    if name == "tenant":
        return {"tenantId": ctx.tenant_id, "countryCode": u("the tenant's country", "tenant().countryCode"),
                "displayName": u("the tenant's display name", "tenant().displayName")}
    if name == "deployment":
        return {"name": ctx.name(), "location": u("the deployment location", "deployment().location"),
                "properties": u("the deployment's properties", "deployment().properties")}
    if name == "managementgroup":
        return u("the management group", "managementGroup()")
    return u("the cloud environment", "environment()")


def _all_text(parts: list[Any]) -> bool:
    for p in parts:
        if not isinstance(p, str):
            return False
    return True


def _id_text(parts: list[Any]) -> Any:
    if _all_text(parts):
        return "".join(parts)
    from .values import merge_needs, normalise_parts
    keys = [key_of(p) for p in parts]
    return Unknown(merge_needs(parts), "p:" + "|".join(k or "?" for k in keys) if all(keys) else None,
                   normalise_parts(parts))


_RESOURCE_ID_FUNCTIONS = {"resourceid": "resourceId", "subscriptionresourceid": "subscriptionResourceId",
                          "tenantresourceid": "tenantResourceId", "extensionresourceid": "extensionResourceId",
                          "managementgroupresourceid": "managementGroupResourceId"}


def _resource_id(node: Call, scope: Scope) -> Any:
    args = [evaluate_node(a, scope) for a in node.args]
    function = _RESOURCE_ID_FUNCTIONS[node.name]
    lead: list[Any] = []
    if function == "extensionResourceId":
        if len(args) < 3:
            return Unknown.because(INVALID, "extensionResourceId() needs a scope id, a type and a name")
        lead, args = [args[0]], args[1:]
    # The type is the first argument with a '/' in known text; the ones before it are the
    # subscription id and/or resource group name (or management group).
    type_at = next((i for i, a in enumerate(args) if isinstance(a, str) and "/" in a), None)
    if type_at is None:
        return unknown_from(args) if any(isinstance(a, Unknown) for a in args) else \
            Unknown.because(INVALID, f"{function}() has no resource type argument")
    rtype, names, before = args[type_at], tuple(args[type_at + 1:]), args[:type_at]
    if not names:
        return Unknown.because(INVALID, f"{function}('{rtype}') has no resource name")
    segments = len(rtype.split("/")) - 1
    if len(names) != segments:
        return Unknown.because(INVALID, f"{function}('{rtype}', …) needs {segments} name segment(s), got {len(names)}")
    ctx = scope.frame.context
    sub: Any = None
    rg: Any = None
    if function == "resourceId":
        if len(before) == 2:
            sub, rg = before
        elif len(before) == 1:
            rg = before[0]
        elif len(before) > 2:
            return Unknown.because(INVALID, "resourceId() has too many arguments before the type")
        sub_v = ctx.subscription_id if sub is None else sub
        rg_v = ctx.resource_group if rg is None else rg
        parts = ["/subscriptions/", sub_v, "/resourceGroups/", rg_v, "/providers/"]
    elif function == "subscriptionResourceId":
        sub = before[0] if before else None
        parts = ["/subscriptions/", ctx.subscription_id if sub is None else sub, "/providers/"]
    elif function == "extensionResourceId":
        parts = [lead[0], "/providers/"]
    elif function == "managementGroupResourceId":
        parts = ["/providers/Microsoft.Management/managementGroups/",
                 before[0] if before else Unknown.because(CONTEXT, "the management group",
                                                          key="managementGroup().name"),
                 "/providers/"]
    else:
        parts = ["/providers/"]
    type_segments = rtype.split("/")
    parts.append(type_segments[0])
    for i, seg in enumerate(type_segments[1:]):
        parts += ["/", seg, "/", names[i]]
    if _all_text(parts):
        return "".join(parts)
    if any(not isinstance(n, (str, Unknown)) for n in names):
        return Unknown.because(INVALID, f"{function}() name segments must be strings")
    if function == "subscriptionResourceId" and sub is None:
        sub = ctx.subscription_id
    ref = ResourceRef(rtype, names, sub_v if function == "resourceId" else sub,
                      rg_v if function == "resourceId" else None,
                      function if function in ("resourceId", "subscriptionResourceId", "tenantResourceId")
                      else "tenantResourceId")
    if function in ("extensionResourceId", "managementGroupResourceId"):
        from .values import normalise_parts
        ref.parts = normalise_parts(parts)
    return ref


def _runtime(name: str, node: Call, scope: Scope) -> Any:
    args = [evaluate_node(a, scope) for a in node.args]
    target = args[0] if args else None
    if node.name == "reference" and isinstance(target, str) and "/" not in target:
        # reference('symbolicName') (languageVersion 2.0) or reference('resourceName')
        decl = scope.frame.template.by_symbolic_name(target) if scope.frame.template.symbolic else None
        if decl is not None:
            target = SymbolicTarget(decl, scope)
    full = any(isinstance(a, str) and a.lower() == "full" for a in args[2:3])
    return RuntimeValue(node.spelling, target, args[1] if len(args) > 1 else None, full)


class SymbolicTarget(Unknown):
    """`reference('kv')` in a languageVersion 2.0 template: the declared resource it names."""

    __slots__ = ("decl", "scope")

    def __init__(self, decl, scope: Scope):
        self.decl = decl
        self.scope = scope
        super().__init__(frozenset([(RUNTIME, f"resource '{decl.symbolic_name}'")]),
                         f"sym:{scope.frame.label}:{(decl.symbolic_name or '').lower()}")


def _user_function(node: Call, scope: Scope) -> Any:
    decl: FunctionDecl | None = scope.frame.template.functions.get(node.name)
    if decl is None:
        return Unknown.because(UNSUPPORTED, f"{node.spelling}() (not declared in the template's functions)")
    args = [evaluate_node(a, scope) for a in node.args]
    if len(args) != len(decl.parameters):
        return Unknown.because(INVALID, f"{node.spelling}() takes {len(decl.parameters)} arguments, got {len(args)}")
    params = {p.lower(): a for p, a in zip(decl.parameters, args)}
    fn_template = Template(parameters={p.lower(): _param_decl(p) for p in decl.parameters},
                           functions=scope.frame.template.functions, document=scope.frame.template.document)
    frame = Frame(scope.frame.session, fn_template,
                  {k: Input("argument", v) for k, v in params.items()}, scope.frame.context, False,
                  f"{scope.frame.label}>{node.name}")
    return evaluate(decl.output, Scope(frame))


def _param_decl(name: str):
    from .template import ParameterDecl
    return ParameterDecl(name, None)


def _if(node: Call, scope: Scope) -> Any:
    if len(node.args) != 3:
        return Unknown.because(INVALID, "if() takes 3 arguments")
    cond = evaluate_node(node.args[0], scope)
    if isinstance(cond, Unknown):
        # Both branches might be taken; keep what they share (e.g. both non-empty arrays).
        a = evaluate_node(node.args[1], scope)
        b = evaluate_node(node.args[2], scope)
        if equal3(a, b) is True:
            return a  # whichever branch is taken
        nonempty = _nonempty(a) and _nonempty(b)
        return unknown_from([cond], nonempty=True if nonempty else None)
    if cond is True:
        return evaluate_node(node.args[1], scope)
    if cond is False:
        return evaluate_node(node.args[2], scope)
    return Unknown.because(INVALID, f"if() condition is a {type_name(cond)}, not a bool")


def _nonempty(v: Any) -> bool:
    if isinstance(v, list):
        return bool(v)
    return isinstance(v, Unknown) and v.nonempty is True


_SCOPED: dict[str, Callable[[Call, Scope], Any]] = {
    "parameters": _parameters,
    "variables": _variables,
    "copyindex": _copy_index,
    "lambdavariables": _lambda_variables,
    "subscription": _context_object,
    "resourcegroup": _context_object,
    "tenant": _context_object,
    "deployment": _context_object,
    "environment": _context_object,
    "managementgroup": _context_object,
    "resourceid": _resource_id,
    "subscriptionresourceid": _resource_id,
    "tenantresourceid": _resource_id,
    "extensionresourceid": _resource_id,
    "managementgroupresourceid": _resource_id,
    "reference": lambda n, s: _runtime("reference", n, s),
    "references": lambda n, s: _runtime("references", n, s),
    "pickzones": lambda n, s: _runtime("pickZones", n, s),
    "providers": lambda n, s: _runtime("providers", n, s),
    "if": _if,
}


def expression_text(raw: Any) -> str:
    """The source text of a raw template value, for messages (`[parameters('x')]`)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Node):
        return f"[{to_text(raw)}]"
    import json
    try:
        return json.dumps(raw)
    except (TypeError, ValueError):
        return repr(raw)
