"""Bicep syntax tree -> the ARM template that `bicep build` would produce (non-symbolic form).

The output is the JSON shape the ARM engine reads (`preflight.arm.template.Template.from_json`)
with expression trees (`preflight.arm.expressions.Node`) where Bicep has expressions, so the
evaluator runs unchanged:

  param       -> parameters (type, defaultValue; @allowed, @minValue, @maxValue, @minLength,
                 @maxLength, @secure; `T?` -> nullable)
  var         -> variables (`[for ...]` -> a variable copy loop); a variable that reads a
                 runtime value (`reference()`, `list*()`) is inlined where it is used, as Bicep does
  func        -> functions (namespace `__bicep`)
  resource    -> resources: 'type@version' split; `if (...)` -> condition; `[for ...]` -> copy;
                 `existing` -> `"existing": true` (a reference, not a deployment, as in the
                 compiler's symbolic-name output), with the pointers of those the file never
                 reads (`properties`, `list*()`; `.id`, `.name`, `parent:` and `scope:` make no
                 GET) in `unread`; `parent:` and nested
                 child resources -> one resource with the composed type and name (a child keeps
                 its parent's condition)
  module      -> Microsoft.Resources/deployments, expressionEvaluationOptions.scope = inner, the
                 module's compiled template inline and `params` as parameters (recursively, with
                 a cycle and depth guard); registry and template-spec modules from Bicep's local
                 module cache (preflight.bicep.registry), unresolved when not restored
  expressions -> '${x}' format(), ?: if(), ! not(), && and(), || or(), == equals(), != ,
                 =~ (case-insensitive), < <= > >=, + - * / %, ?? coalesce(), .? and [?] tryGet(),
                 lambdas lambda()/lambdaVariables(), `[for ...]` in properties -> property copy,
                 `...x` in arrays and objects -> flatten() and shallowMerge();
                 symbolic references: `r.id` -> resourceId(...), `r.name` -> the name expression,
                 `r.properties.x` -> reference(resourceId(...), apiVersion).x, other members of a
                 resource -> reference(..., 'full').member, `m.outputs.x` -> the deployment's
                 reference(...).outputs.x.value

Anything the mapping does not know becomes an Unknown value (never a guessed literal) and a
note (`notes`) that the PF010 rule reports. `positions` maps every JSON pointer of the generated
template to the Bicep (line, column) it came from; inside a module it is the module call's.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

from ..arm.expressions import Call, Index, Literal, Member, Node
from ..arm.template import Backref
from ..arm.values import SECRET, UNSUPPORTED, Unknown
from ..loaders import join_pointer
from ..text import clip_quoted
from .. import fs
from . import reuse
from .files import named_path, read_regular
from .registry import BadReference, cache_file, config_for, is_registry_reference, template_of
from .syntax import Decl, Parsed, Prop, X, parse

SCHEMAS = {
    "resourcegroup": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "subscription": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
    "managementgroup": "https://schema.management.azure.com/schemas/2019-08-01/managementGroupDeploymentTemplate.json#",
    "tenant": "https://schema.management.azure.com/schemas/2019-08-01/tenantDeploymentTemplate.json#",
}
DEPLOYMENTS_API = "2022-09-01"
MAX_MODULE_DEPTH = 8
MAX_MODULE_BYTES = 4 * 1024 * 1024
MAX_LOAD_BYTES = 1024 * 1024  # loadTextContent() and friends
FUNCTION_NAMESPACE = "__bicep"

_BINARY = {"&&": "and", "||": "or", "==": "equals", "<": "less", "<=": "lessOrEquals", ">": "greater",
           ">=": "greaterOrEquals", "+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod",
           "??": "coalesce"}
_RESOURCE_FIELDS = {"id", "name", "type", "apiversion"}
_BODY_SKIP = {"parent", "scope", "dependson"}
_CONSTRAINTS = (("allowed", "allowedValues"), ("minvalue", "minValue"), ("maxvalue", "maxValue"),
                ("minlength", "minLength"), ("maxlength", "maxLength"))  # decorator -> parameter field
_TYPES = {"string": "string", "int": "int", "bool": "bool", "object": "object", "array": "array"}


class _Loops(list):
    """The `copy` array of property loops the compiler generated in an object."""


class Unmapped(Unknown):
    """A Bicep construct preflight does not evaluate: an Unknown whose text is the source."""

    __slots__ = ("text",)

    def __init__(self, what: str, kind: str = UNSUPPORTED):
        what = " ".join(what.split())
        if len(what) > 80:
            what = what[:79] + "…"
        self.text = what
        super().__init__(frozenset([(kind, what)]))

    def __repr__(self) -> str:
        return self.text


def unknown_node(what: str, kind: str = UNSUPPORTED) -> Node:
    return Literal(Unmapped(what, kind))


lit = Literal  # (a name of its own, as `call`: tens of thousands per compile, no wrapper call)


_CALL_NAMES: dict[str, tuple[str, str]] = {}  # function name -> (Call.name, Call.spelling)
_new_call = Call.__new__


def call(name: str, *args: Node) -> Call:
    """Call(name, args): every compile makes tens of thousands, of a few function names, so
    each name is lowered and interned (as Call.__init__ does) once."""
    return call_of(name, args)


def call_of(name: str, args: tuple[Node, ...]) -> Call:
    """`call(name, *args)` for arguments already in a tuple."""
    names = _CALL_NAMES.get(name)
    if names is None:
        if len(_CALL_NAMES) >= 4096:  # the names a scanned file makes up are not kept
            return Call(name, args, name)
        names = _CALL_NAMES[name] = (sys.intern(name.lower()), sys.intern(name))
    node = _new_call(Call)
    node.name, node.spelling = names
    node.args = args
    return node


class SymbolRead(Call):
    """The `reference()` or `list*()` call a resource symbol's member or function becomes
    (`kv.properties.vaultUri`, `kv.listKeys()`): its apiVersion is the declaration's, written
    there and changed there, not in the expression."""

    __slots__ = ()
    from_declaration = True


# ------------------------------------------------------------------------------ symbols


def _declaration_body(body: X | None) -> tuple[X | None, X | None, X | None, dict[str, Prop]]:
    """A resource's or module's value: `[for ...: ]` loop, `if (...)` condition, the object, and
    its properties by lower-cased name (the first of a repeated name wins)."""
    loop = condition = None
    if body is not None and body.kind == "for":
        loop, body = body, body.d
    if body is not None and body.kind == "if":
        condition, body = body.a, body.b
    obj = body if body is not None and body.kind == "obj" else None
    if obj is not None and _has_spread(obj.a):
        obj = None  # properties spread in from elsewhere: the body is not known property by property
    props: dict[str, Prop] = {}
    for p in obj.a if obj is not None else ():
        if p.key is not None:
            props.setdefault(p.key.lower(), p)
    return loop, condition, obj, props


class ResourceInfo:
    """A `resource` declaration (top-level or nested) and how to refer to it."""

    nested_parent = Backref()  # the resource it is declared in (which holds it in `children`)

    def __init__(self, decl: Decl, parent: "ResourceInfo | None"):
        self.decl = decl
        self.symbol = decl.name or "?"
        self.nested_parent = parent
        self.children: dict[str, ResourceInfo] = {}
        rtype, _, api = (decl.type or "").rpartition("@")
        if not rtype:
            rtype, api = decl.type or "", ""
        self.own_type = rtype
        self.api: str = api or (parent.api if parent is not None else "")
        self.existing = decl.existing
        self.read = False  # the file reads its properties or calls a list*() function on it
        self.loop, self.condition, self.body, self.props = _declaration_body(decl.value)
        self.index = -1  # position in the emitted resources list

    @property
    def full_type(self) -> str:
        if self.nested_parent is not None:
            return f"{self.nested_parent.full_type}/{self.own_type}"
        return self.own_type

    @property
    def parent_prop(self) -> X | None:
        p = self.props.get("parent")
        return p.value if p is not None else None

    @property
    def looped(self) -> bool:
        return self.loop is not None


class ModuleInfo:
    def __init__(self, decl: Decl):
        self.decl = decl
        self.symbol = decl.name or "?"
        self.loop, self.condition, self.body, self.props = _declaration_body(decl.value)


class Env:
    """Names in scope while converting an expression (besides the file's own, which its Unit
    holds: a Unit keeps its root Env, and an Env that pointed back at it would make a cycle
    that only the cyclic collector frees)."""

    __slots__ = ("locals", "function", "scoped")

    def __init__(self, locals: dict[str, Node] | None = None, function: bool = False,
                 scoped: dict[str, "ResourceInfo"] | None = None):
        self.locals = locals or {}
        self.function = function
        self.scoped = scoped or {}  # nested resources visible by their bare name

    def bind(self, names: dict[str, Node]) -> "Env":
        merged = dict(self.locals)
        merged.update(names)
        return Env(merged, self.function, self.scoped)

    def with_scoped(self, resources: dict[str, "ResourceInfo"]) -> "Env":
        merged = dict(self.scoped)
        merged.update(resources)
        return Env(self.locals, self.function, merged)


# --------------------------------------------------------------------------------- units


class Module:
    """Where a nested deployment in the generated template came from (for messages)."""

    def __init__(self, symbol: str, path: str, line: int, column: int):
        self.symbol = symbol
        self.path = path  # as written in the module declaration
        self.line = line
        self.column = column

    def describe(self) -> str:
        return f"module '{self.symbol}' (line {self.line}, '{self.path}')"


class ModuleResult:
    """A module file compiled for its callers: `value` is (compiled template, the module calls
    inside it, problem, notes), with what the compile looked at and how it depends on the
    chain of calls that reached it, so that it can be reused by other callers
    (preflight.bicep.reuse):

    - `deps`: the file-system look-ups it made (preflight.fs), recorded again at each reuse;
    - `pure`: its compile met no module of its callers (a cycle) and not the depth limit, ran
      out of no stack, and reused only modules compiled so; else it is never reused elsewhere;
    - `reach`: the modules it reached (each checked against the chain of callers), and
      `height`: how far below it the deepest depth check was (-1: none). It compiles the
      same for another chain of callers `stack` when `fits(stack)`;
    - `installs`: the module results its compile left in the compiler (every module it reached),
      which a reuse leaves there too, as a compile would;
    - `own`: what the file's own scan takes from its compile (`Own`), when it recorded them.
      A module is mostly compiled for a caller before the scan reaches it (AVM's parent
      modules come before their child modules): it then compiles once, not twice;
    - `unchecked`: the text of a scanned file it was compiled from, until the first caller that
      takes it reads the file as a module compile would (`Compiler.checked`): most scanned
      files are called by no other, and are not read again for nothing."""

    __slots__ = ("value", "symbols", "unread", "deps", "pure", "reach", "height", "installs", "size", "own",
                 "unchecked", "__weakref__")

    def __init__(self, value: tuple[Any, dict, str | None, list], deps: dict, symbols: dict | None = None,
                 unread: set | None = None, pure: bool = True, reach: frozenset = frozenset(), height: int = -1,
                 installs: tuple = (), size: int = 0, own: "Own | None" = None):
        self.own = own
        self.unchecked: str | None = None
        self.value = value
        self.deps = deps
        self.symbols = symbols  # pointer inside its template -> (symbol, name as written); None: not Bicep
        self.unread = unread
        self.pure = pure
        self.reach = reach
        self.height = height
        self.installs = installs
        self.size = size  # characters of its source: its weight in the cache

    def fits(self, stack: tuple[str, ...]) -> bool:
        """Whether compiling it for the chain of calls `stack` would make the same checks."""
        return self.pure and len(stack) + self.height < MAX_MODULE_DEPTH and self.reach.isdisjoint(stack)


class Own:
    """A Bicep module's compile as its own scan would make it (with no caller): the text it
    compiled, its positions, all its notes (the parser's, `skipped`, and the compiler's) and
    where the repeated ones are written. The same compile gives them for a caller as for the
    scanned file, when its result `fits(())` (`scanned_compile`)."""

    __slots__ = ("text", "positions", "skipped", "notes", "note_origins")

    def __init__(self, text: str, positions: dict, skipped: list, notes: list, note_origins: dict):
        self.text = text
        self.positions = positions
        self.skipped = skipped
        self.notes = notes
        self.note_origins = note_origins


class _Tracker:
    """The checks against the chain of callers made while one module compiles (ModuleResult)."""

    __slots__ = ("base", "reach", "height", "pure")

    def __init__(self, base: int):
        self.base = base  # the length of the module's own chain of callers
        self.reach: set[str] = set()
        self.height = -1
        self.pure = True


class Compiler:
    """Shared by the units of one compilation (a file and the modules it reaches)."""

    def __init__(self, read: Callable[[str], str | None] | None = None):
        self.read = read or _read_text
        self.cache: dict[str, ModuleResult] = {}
        self.symbols: dict[str, dict[str, tuple[str, str]]] = {}  # module file -> its resources' symbols
        self.unread: dict[str, set[str]] = {}  # module file -> its `existing` resources nothing reads
        self.configs: dict[str, tuple[Any, dict]] = {}  # folder -> its Bicep configuration, what it read
        self.tracking: list[_Tracker] = []  # the modules being compiled, outermost first
        self.impure: set[str] = set()  # modules in `cache` compiled under a cycle or the depth limit
        # Modules compiled by earlier files of the scan: only with the standard reader.
        self.shared = reuse.current() if read is None else None

    def config(self, folder: str) -> Any:
        """The Bicep configuration for a folder (registry.config_for), its look-ups recorded for
        every module compile that asks, not only the first."""
        hit = self.configs.get(folder)
        if hit is not None:
            fs.replay(hit[1])
            return hit[0]
        with fs.recording() as deps:
            config = config_for(folder, {})
        self.configs[folder] = (config, deps)
        return config

    # The checks of a module call against the chain of callers, seen by each module compiling.

    def checked_cycle(self, abspath: str, stack: tuple[str, ...], own: str, cycle: bool) -> None:
        for t in self.tracking:
            if abspath in stack[t.base:] or os.path.normcase(abspath) == os.path.normcase(own):
                continue  # a cycle inside the module itself: whoever calls it
            if cycle:
                t.pure = False
            else:
                t.reach.add(abspath)

    def checked_depth(self, depth: int, deep: bool) -> None:
        for t in self.tracking:
            if deep:
                t.pure = False
            elif depth - t.base > t.height:
                t.height = depth - t.base

    def used(self, abspath: str, result: ModuleResult, stack: tuple[str, ...]) -> None:
        """A module result taken for the chain of calls `stack`: what it looked at is looked at
        again, and each module compiling around it depends on it."""
        fits = result.fits(stack)
        for t in self.tracking:
            if not fits:
                t.pure = False
                continue
            t.reach.add(abspath)
            t.reach.update(result.reach)
            if len(stack) + result.height - t.base > t.height:
                t.height = len(stack) + result.height - t.base

    def keep(self, abspath: str, result: ModuleResult) -> None:
        self.cache[abspath] = result
        if result.symbols is not None:
            self.symbols[abspath] = result.symbols
            self.unread[abspath] = result.unread or set()
        if not result.pure:
            self.impure.add(abspath)

    def module(self, abspath: str, stack: tuple[str, ...], root: str, load: Callable[[], tuple]) -> ModuleResult:
        """The compiled module at `abspath` for the chain of calls `stack` (its callers, the
        scanned file first): from this compile, or an earlier file's, or compiled by `load`
        (() -> (value, symbols, unread, source characters, whether it ran out of stack, Own))."""
        result = self.cache.get(abspath)
        if result is not None:
            fs.replay(result.deps)
            self.used(abspath, result, stack)
            return result
        shared = self.shared
        if shared is not None:
            result = shared.get((abspath, root))
            # A compile here would give the same result: the same checks, and no module it
            # reaches compiled differently in this compile already.
            if result is not None and result.fits(stack) and result.reach.isdisjoint(self.impure) \
                    and self.checked(abspath, result):
                shared.hits += 1
                for inner, inner_result in result.installs:
                    if inner not in self.cache:
                        self.keep(inner, inner_result)
                self.keep(abspath, result)
                fs.replay(result.deps)
                self.used(abspath, result, stack)
                return result
        tracker = _Tracker(len(stack))
        self.tracking.append(tracker)
        try:
            with fs.recording() as deps:
                value, symbols, unread, size, exhausted, own = load()
        finally:
            self.tracking.pop()
        result = self._result(value, deps, symbols, unread, tracker, size, exhausted, stack[0], own)
        self.keep(abspath, result)
        self.used(abspath, result, stack)
        if result.pure and shared is not None:
            shared.put((abspath, root), result)
        return result

    def checked(self, abspath: str, result: ModuleResult) -> bool:
        """Whether a module result is of the text a compile here would read (see `unchecked`),
        the read recorded as that compile would record it."""
        if result.unchecked is None:
            return True
        with fs.recording() as read:
            text = self.read(abspath)
        if text != result.unchecked:
            return False
        result.deps.update(read)
        result.unchecked = None
        return True

    def _result(self, value: tuple, deps: dict, symbols: dict | None, unread: set | None, tracker: _Tracker,
                size: int, exhausted: bool, scanned: str, own: Own | None = None) -> ModuleResult:
        # The scanned file's repository, looked up by every module path it resolves, is each
        # caller's own look-up (it made it to find this module): not this result's.
        folder = os.path.dirname(scanned)
        deps = {k: v for k, v in deps.items() if not (k[0] == "root" and k[1] == folder)}
        installs = tuple((p, self.cache[p]) for p in sorted(tracker.reach) if p in self.cache)
        return ModuleResult(value, deps, symbols, unread, tracker.pure and not exhausted, frozenset(tracker.reach),
                            tracker.height, installs, size, own)

    def compile_shared(self, unit: "Unit") -> dict:
        """Compile a scanned file's unit, keeping the result for the files of the scan that
        call it as a module: the same compile, but for its positions (and so its template, its
        notes, its symbols), when made with no caller."""
        abspath = unit.abspath
        assert abspath is not None and self.shared is not None
        tracker = _Tracker(0)
        self.tracking.append(tracker)
        try:
            with fs.recording() as deps:
                template = unit.compile()
        finally:
            self.tracking.pop()
        text = unit.parsed.text
        result = self._result(_module_value(unit, template), deps, unit.symbols, unit.unread, tracker,
                              len(text), False, abspath)
        if result.pure:
            result.unchecked = text  # the scan read it; a module compile reads it on its own
            root = fs.confinement_root(os.path.dirname(abspath))
            self.shared.put((abspath, root), result)
        return template

    def registry_module(self, abspath: str, load: Callable[[], tuple]) -> ModuleResult:
        """A module from the registry cache: it names no other file, so it is the same for every
        caller (`load`: () -> value)."""
        result = self.cache.get(abspath)
        if result is not None:
            fs.replay(result.deps)
        else:
            with fs.recording() as deps:
                value = load()
            result = ModuleResult(value, deps)
            self.keep(abspath, result)
        for t in self.tracking:
            t.reach.add(abspath)
        return result


class Unit:
    """One Bicep file being compiled."""

    def __init__(self, parsed: Parsed, abspath: str | None, compiler: Compiler, record: bool,
                 stack: tuple[str, ...] = ()):
        self.parsed = parsed
        self.abspath = abspath
        self.compiler = compiler
        self.record = record  # keep positions (the scanned file itself; a module during a scan)
        self.stack = stack
        self.positions: dict[str, tuple[int, int]] = {}
        self.notes: list[tuple[int, int, str]] = []
        self.modules: dict[str, Module] = {}  # pointer of a generated deployment -> its module call
        self.symbols: dict[str, tuple[str, str]] = {}  # pointer of a resource -> (symbol, name as written)
        self.unread: set[str] = set()  # pointers of the `existing` resources nothing reads (no GET)
        self.target_scope = "resourcegroup"
        self.params: dict[str, Decl] = {}
        self.vars: dict[str, Decl] = {}
        self.funcs: dict[str, Decl] = {}
        self.types: dict[str, Decl] = {}
        self.imports: dict[str, Decl] = {}
        self.resources: dict[str, ResourceInfo] = {}
        self.all_resources: list[ResourceInfo] = []
        self.module_infos: dict[str, ModuleInfo] = {}
        self._var_nodes: dict[str, Node] = {}
        self._param_nodes: dict[str, Node] = {}  # parameters('x') for a reference to parameter x
        self._var_busy: set[str] = set()
        # Made once per declaration (`_once`), for references with no index.
        self._resource_envs: dict[ResourceInfo, Env] = {}
        self._name_parts: dict[ResourceInfo, list[Node] | None] = {}
        self._ids: dict[ResourceInfo, Node] = {}
        self._module_names: dict[ModuleInfo, Node] = {}
        self._noted: set[tuple[int, int, str]] = set()
        self.own_notes: set[tuple[int, int, str]] = set()  # not repeated by the files calling this one
        # A note repeated from a module -> where it is written: (module file, line, column,
        # message, the module calls from this file to it as (file, line) pairs).
        self.note_origins: dict[tuple[int, int, str], tuple] = {}
        self.env = Env()  # the file's own names only (Envs are never changed: one serves all)
        for d in parsed.decls:
            self._declare(d)

    # ---------------------------------------------------------------------- bookkeeping

    @property
    def scanned(self) -> str | None:
        """The scanned file this unit was reached from: what it names stays in its repository."""
        return self.stack[0] if self.stack else self.abspath

    def note(self, pos: tuple[int, int], message: str, own: bool = False) -> tuple[int, int, str]:
        key = (pos[0], pos[1], clip_quoted(message))
        if key not in self._noted:
            self._noted.add(key)
            self.notes.append(key)
        if own:
            self.own_notes.add(key)
        return key

    def at(self, pointer: str, pos: tuple[int, int]) -> None:
        if self.record:
            self.positions[pointer] = pos

    def _declare(self, d: Decl) -> None:
        name = d.name
        if d.kind == "param" and name:
            self.params[name] = d
        elif d.kind == "var" and name:
            self.vars[name] = d
        elif d.kind == "func" and name:
            self.funcs[name] = d
        elif d.kind == "type" and name:
            self.types[name] = d
        elif d.kind == "import":
            for ident in d.extra or []:
                self.imports[ident] = d
        elif d.kind == "targetScope" and isinstance(d.value, str):
            self.target_scope = d.value.lower().replace("_", "")
        elif d.kind == "resource" and name:
            self._declare_resource(d, None)
        elif d.kind == "module" and name:
            self.module_infos[name] = ModuleInfo(d)

    def _declare_resource(self, d: Decl, parent: ResourceInfo | None) -> ResourceInfo:
        info = ResourceInfo(d, parent)
        if parent is None:
            self.resources.setdefault(info.symbol, info)
        else:
            parent.children.setdefault(info.symbol, info)
        self.all_resources.append(info)
        if info.body is not None:
            for p in info.body.a:
                # (the parser puts a nested resource's decorators on its Decl)
                if p.key is None and isinstance(p.value, Decl) and p.value.kind == "resource":
                    self._declare_resource(p.value, info)
        return info

    # -------------------------------------------------------------------------- compile

    def compile(self) -> dict:
        out: dict[str, Any] = {"$schema": SCHEMAS.get(self.target_scope, SCHEMAS["resourcegroup"]),
                               "contentVersion": "1.0.0.0",
                               "metadata": {"_generator": {"name": "preflight-bicep"}}}
        env = self.env
        self.at("", (1, 1))
        params: dict[str, Any] = {}
        for name, d in self.params.items():
            params[name] = self._parameter(d, env, join_pointer("/parameters", name))
        out["parameters"] = params
        self.at("/parameters", (1, 1))
        variables: dict[str, Any] = {}
        var_copies: list[dict] = []
        for name, d in self.vars.items():
            node = self.var_node(name)
            if not (isinstance(node, Call) and node.name == "variables"):
                continue  # inlined where it is used
            pointer = join_pointer("/variables", name)
            if d.value is not None and d.value.kind == "for":
                index = len(var_copies)
                cp = join_pointer("/variables/copy", index)
                var_copies.append(self._copy_block(name, d.value, env, cp, d.pos))
                self.at(cp, d.name_pos)
                self.at(pointer, d.name_pos)
                continue
            self.at(pointer, d.name_pos)
            variables[name] = self.raw(d.value, env, pointer)
        if var_copies:
            variables["copy"] = var_copies
        out["variables"] = variables
        if self.funcs:
            members = {}
            for name, d in self.funcs.items():
                fenv = Env({p: call("parameters", lit(p)) for p in (d.extra or [])}, function=True)
                members[name] = {"parameters": [{"name": p, "type": "any"} for p in (d.extra or [])],
                                 "output": {"type": "any", "value": self.node(d.value, fenv)}}
            out["functions"] = [{"namespace": FUNCTION_NAMESPACE, "members": members}]
        resources: list[Any] = []
        for info in self.all_resources:
            if info.existing and info.body is None:
                continue  # the stand-in for an unreadable declaration: nothing known to reference
            info.index = len(resources)
            resources.append(self._resource(info, join_pointer("/resources", info.index)))
        for d in self.parsed.decls:
            if d.kind == "module" and d.name in self.module_infos:
                pointer = join_pointer("/resources", len(resources))
                resources.append(self._module(self.module_infos[d.name], pointer))
            elif d.kind == "unknown":
                self.note(d.pos, f"`{d.type}` is not evaluated by preflight; skipped")
        out["resources"] = resources
        self.at("/resources", (1, 1))
        self._outputs_read(env)
        self.unread.update(join_pointer("/resources", info.index) for info in self.all_resources
                           if info.existing and not info.read and info.index >= 0)
        return out

    def _outputs_read(self, env: Env) -> None:
        """Mark the `existing` resources the outputs read (what `read` is for: an unread one
        makes no GET). Outputs are not evaluated: their conversion is dropped, and so are its
        notes; none is converted once no such resource is left unread."""
        unread = [info for info in self.all_resources if info.existing and not info.read and info.index >= 0]
        if not unread:
            return
        notes, noted = list(self.notes), set(self._noted)
        for d in self.parsed.decls:
            if d.kind == "output" and isinstance(d.value, X):
                self.node(d.value, env)
                if all(info.read for info in unread):
                    break
        self.notes, self._noted = notes, noted

    # ------------------------------------------------------------------------ parameters

    def _parameter(self, d: Decl, env: Env, pointer: str) -> dict:
        self.at(pointer, d.name_pos)
        spec: dict[str, Any] = {}
        ptype, allowed, nullable = self._type_of(d.type or "")
        decorators = {_decorator_name(x): x for x in d.decorators}
        secure = "secure" in decorators
        if ptype:
            if secure and ptype == "string":
                ptype = "securestring"
            elif secure and ptype == "object":
                ptype = "secureObject"
            spec["type"] = ptype
        if d.value is not None:
            default_pointer = pointer + "/defaultValue"
            spec["defaultValue"] = self.raw(d.value, env, default_pointer)
            self.at(default_pointer, d.value.pos)
        if nullable:
            spec["nullable"] = True
        for key, target in _CONSTRAINTS if decorators else ():
            x = decorators.get(key)
            if x is not None and x.b:
                spec[target] = self.raw(x.b[0], env, pointer + "/" + target)
                self.at(pointer + "/" + target, x.pos)
        if "allowedValues" not in spec and allowed is not None:
            spec["allowedValues"] = allowed
        x = decorators.get("description")
        if x is not None and x.b and x.b[0].kind == "lit":
            spec["metadata"] = {"description": x.b[0].a}
        return spec

    def _type_of(self, text: str, depth: int = 0) -> tuple[str | None, list | None, bool]:
        """(ARM type, allowed values of a literal union, nullable) for a Bicep type text."""
        simple = _TYPES.get(text)
        if simple is not None:  # most parameters: `string`, `bool`, `object`...
            return simple, None, False
        text = text.strip()
        nullable = text.endswith("?")
        if nullable:
            text = text[:-1].strip()
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        lower = text.lower()
        if lower.startswith("sys."):
            lower = lower[4:]
        if lower in _TYPES:
            return _TYPES[lower], None, nullable
        if text.endswith("[]"):
            return "array", None, nullable
        if text.startswith("{"):
            return "object", None, nullable
        if lower.startswith(("resourceinput<", "resourceoutput<")):
            return None, None, nullable  # a resource-derived type: its ARM type is in the resource's schema
        if text.startswith("resource"):
            return "string", None, nullable
        if "|" in text:
            items = [t.strip() for t in _split_union(text)]
            if items and all(len(t) >= 2 and t[0] == t[-1] == "'" for t in items):
                return "string", [t[1:-1] for t in items], nullable
            if items and all(t.lstrip("-").isdigit() for t in items):
                return "int", [int(t) for t in items], nullable
            if items and all(t in ("true", "false") for t in items):
                return "bool", [t == "true" for t in items], nullable
            return None, None, nullable
        if len(text) >= 2 and text[0] == text[-1] == "'":
            return "string", [text[1:-1]], nullable
        alias = self.types.get(text)
        if alias is not None and depth < 8:
            t, allowed, inner_nullable = self._type_of(alias.type or "", depth + 1)
            return t, allowed, nullable or inner_nullable
        return None, None, nullable

    # ------------------------------------------------------------------------- variables

    def var_node(self, name: str) -> Node:
        """How a variable is referred to: variables('x'), or its inlined expression when it
        reads runtime values (Bicep inlines those; ARM forbids reference() in variables)."""
        hit = self._var_nodes.get(name)
        if hit is not None:
            return hit
        d = self.vars[name]
        if name in self._var_busy:
            return unknown_node(f"variable '{name}' (it refers to itself)")
        self._var_busy.add(name)
        try:
            node = self.node(d.value, self.env) if d.value is not None else unknown_node(name)
        finally:
            self._var_busy.discard(name)
        result = node if _runtime(node) else call("variables", lit(name))
        self._var_nodes[name] = result
        return result

    # ------------------------------------------------------------------------- resources

    def loop_env(self, info: ResourceInfo | ModuleInfo, index: Node, env: Env) -> Env:
        """The names a looped resource's body sees, for one index expression."""
        loop = info.loop
        if loop is None:
            return env
        iterable = self.node(loop.c, env)
        names: dict[str, Node] = {}
        if loop.a:
            names[loop.a] = Index(iterable, index)
        if loop.b:
            names[loop.b] = index
        return env.bind(names)

    def resource_env(self, info: ResourceInfo, index: Node | None, env: Env | None = None) -> Env:
        if index is None and (env is None or env is self.env):  # the declaration's own: asked often
            return self._once(self._resource_envs, info, self._resource_env, info, None)
        return self._resource_env(info, index, env)

    def _once(self, memo: dict, key: Any, make: Callable, *args: Any) -> Any:
        """`make(*args)`, made once per key: a resource's name, id or scope is read at each
        reference to it, and the trees are never changed once built. Not kept when made while
        a variable is being converted: a reference back to it is then unknown there only."""
        hit = memo.get(key, memo)
        if hit is not memo:
            return hit
        made = make(*args)
        if not self._var_busy:
            memo[key] = made
        return made

    def _resource_env(self, info: ResourceInfo, index: Node | None, env: Env | None = None) -> Env:
        env = env or self.env
        if info.nested_parent is not None:
            env = self.resource_env(info.nested_parent, index, env)
        if info.children:
            env = env.with_scoped(info.children)
        if info.loop is not None:
            return self.loop_env(info, index if index is not None else call("copyIndex"), env)
        return env

    def name_parts(self, info: ResourceInfo, index: Node | None) -> list[Node] | None:
        """The name segments of a resource, for resourceId(); None when not known."""
        if index is None:
            return self._once(self._name_parts, info, self._make_name_parts, info, None)
        return self._make_name_parts(info, index)

    def _make_name_parts(self, info: ResourceInfo, index: Node | None) -> list[Node] | None:
        env = self.resource_env(info, index)
        prop = info.props.get("name")
        if prop is None or not isinstance(prop.value, X):
            return None
        parent, parent_index = self.parent_of(info, env)
        own = prop.value
        if parent is not None:
            pp = self.name_parts(parent, parent_index)
            if pp is None:
                return None
            return pp + [self.node(own, env)]
        segments = len(info.own_type.split("/")) - 1
        if segments <= 1:
            return [self.node(own, env)]
        split = _split_name(own, segments)
        if split is not None:
            return [self.node(s, env) if isinstance(s, X) else lit(s) for s in split]
        whole = self.node(own, env)
        return [Index(call("split", whole, lit("/")), lit(i)) for i in range(segments)]

    def name_node(self, info: ResourceInfo, index: Node | None) -> Node:
        parts = self.name_parts(info, index)
        if parts is None:
            return unknown_node(f"the name of resource '{info.symbol}'")
        return _join_name(parts)

    def parent_of(self, info: ResourceInfo, env: Env) -> tuple[ResourceInfo | None, Node | None]:
        """The parent resource (nested or `parent:`) and the index to refer to it with."""
        if info.nested_parent is not None:
            return info.nested_parent, None
        px = info.parent_prop
        if px is None:
            return None, None
        target, index = self.symbol_ref(px, env)
        if isinstance(target, ResourceInfo):
            return target, index
        return None, None

    def type_of(self, info: ResourceInfo) -> str:
        if info.nested_parent is not None:
            return info.full_type
        px = info.parent_prop
        if px is not None and "/" not in info.own_type.split("/", 1)[-1] and info.own_type.count("/") == 0:
            target, _ = self.symbol_ref(px, self.env)
            if isinstance(target, ResourceInfo):
                return f"{self.type_of(target)}/{info.own_type}"
        return info.own_type

    def scope_of(self, info: ResourceInfo, env: Env) -> tuple[str, list[Node]] | None:
        """(function, leading arguments) for this resource's id, or None when unknown."""
        parent, parent_index = self.parent_of(info, env)
        if parent is not None:
            return self.scope_of(parent, self.resource_env(parent, parent_index))
        scope = info.props.get("scope")
        functions: dict[str, tuple[str, list[Any]]] = {
            "resourcegroup": ("resourceId", []), "subscription": ("subscriptionResourceId", []),
            "tenant": ("tenantResourceId", []), "managementgroup": ("tenantResourceId", [])}
        default = functions.get(self.target_scope, ("resourceId", []))
        if scope is None or not isinstance(scope.value, X):
            return default
        x = scope.value
        if x.kind == "call" and x.d is None or (x.kind == "call" and _is_namespace(x.d)):
            fname = x.a.lower()
            args = [self.node(a, env) for a in x.b]
            if fname == "resourcegroup":
                if len(args) == 1:
                    return "resourceId", args
                if len(args) == 2:
                    return "resourceId", args
                return "resourceId", []
            if fname == "subscription":
                return "subscriptionResourceId", args[:1]
            if fname == "tenant":
                return "tenantResourceId", []
            return None
        target, index = self.symbol_ref(x, env)
        if isinstance(target, ResourceInfo):
            return "extensionResourceId", [self.id_node(target, index)]
        return None

    def id_node(self, info: ResourceInfo, index: Node | None) -> Node:
        if index is None:
            return self._once(self._ids, info, self._make_id_node, info, None)
        return self._make_id_node(info, index)

    def _make_id_node(self, info: ResourceInfo, index: Node | None) -> Node:
        env = self.resource_env(info, index)
        scope = self.scope_of(info, env)
        parts = self.name_parts(info, index)
        if scope is None or parts is None:
            return unknown_node(f"the id of resource '{info.symbol}'")
        function, lead = scope
        rtype = self.type_of(info)
        if len(rtype.split("/")) - 1 != len(parts):
            return unknown_node(f"the id of resource '{info.symbol}'")
        return call(function, *lead, lit(rtype), *parts)

    def reference_node(self, info: ResourceInfo, index: Node | None, full: bool) -> Node:
        args = [self.id_node(info, index), lit(info.api)]
        if full:
            args.append(lit("full"))
        return SymbolRead("reference", tuple(args))

    def _resource(self, info: ResourceInfo, pointer: str) -> dict:
        d = info.decl
        self.at(pointer, d.pos)
        name_prop = info.props.get("name")
        self.symbols[pointer] = (info.symbol, source_text(name_prop.value) if name_prop is not None else "?")
        env = self.resource_env(info, None)
        out: dict[str, Any] = {"type": self.type_of(info), "apiVersion": info.api}
        if info.existing:
            out["existing"] = True
        self.at(join_pointer(pointer, "type"), d.extra or d.pos)
        self.at(join_pointer(pointer, "apiVersion"), d.extra or d.pos)
        out["name"] = self._raw_or_node(self.name_node(info, None))
        self.at(join_pointer(pointer, "name"), name_prop.pos if name_prop is not None else d.pos)
        condition = self._condition(info, env)
        if condition is not None:
            out["condition"] = condition
            self.at(join_pointer(pointer, "condition"), self._condition_pos(info))
        copy = self._resource_copy(info, env, join_pointer(pointer, "copy"))
        if copy is not None:
            out["copy"] = copy
        if info.body is None:
            self.note(d.pos, f"the body of resource '{info.symbol}' is not read by preflight")
            out["properties"] = unknown_node(f"the body of resource '{info.symbol}'")
            return out
        for p in info.body.a:
            if p.key is None:
                continue
            key = p.key
            lower = key.lower()
            if lower == "name" or lower in _BODY_SKIP:
                if lower == "dependson":
                    deps = self._depends_on(p, env)
                    if deps:
                        out["dependsOn"] = deps
                continue
            self._set(out, key, p.value, env, pointer, p.pos)
        return out

    def _condition_pos(self, info: ResourceInfo) -> tuple[int, int]:
        if info.condition is not None:
            return info.condition.pos
        if info.nested_parent is not None:
            return self._condition_pos(info.nested_parent)
        return info.decl.pos

    def _condition(self, info: ResourceInfo, env: Env) -> Node | None:
        conditions: list[Node] = []
        node: ResourceInfo | None = info
        while node is not None:
            if node.condition is not None:
                conditions.append(self.node(node.condition, self.resource_env(node, None)))
            node = node.nested_parent
        if not conditions:
            return None
        if len(conditions) == 1:
            return conditions[0]
        return call("and", *reversed(conditions))

    def _resource_copy(self, info: ResourceInfo, env: Env, pointer: str) -> dict | None:
        looped: ResourceInfo | None = info
        while looped is not None and looped.loop is None:
            looped = looped.nested_parent
        if looped is None:
            return None
        loop = looped.loop
        assert loop is not None  # the walk above stopped at the resource with the loop
        self.at(pointer, loop.pos)
        outer_env = self.resource_env(looped.nested_parent, None) if looped.nested_parent else self.env
        copy: dict[str, Any] = {"name": info.symbol, "count": call("length", self.node(loop.c, outer_env))}
        batch = next((x for x in info.decl.decorators if _decorator_name(x) == "batchsize"), None)
        if batch is not None and batch.b:
            copy["mode"] = "serial"
            copy["batchSize"] = self._raw_or_node(self.node(batch.b[0], self.env))
        return copy

    def _depends_on(self, prop: Prop, env: Env) -> list:
        out: list[Any] = []
        value = prop.value
        if not isinstance(value, X) or value.kind != "arr":
            return out
        for item in value.a:
            target, index = self.symbol_ref(item, env)
            if isinstance(target, ResourceInfo) and not target.existing and (index is not None or not target.looped):
                node = self.id_node(target, index)
                out.append(node)
            elif isinstance(target, ModuleInfo) and (index is not None or target.loop is None):
                out.append(call("resourceId", lit("Microsoft.Resources/deployments"),
                                self.module_name(target, index)))
        return out

    # --------------------------------------------------------------------------- modules

    def module_name(self, info: ModuleInfo, index: Node | None) -> Node:
        if index is None:
            return self._once(self._module_names, info, self._make_module_name, info, None)
        return self._make_module_name(info, index)

    def _make_module_name(self, info: ModuleInfo, index: Node | None) -> Node:
        prop = info.props.get("name")
        if prop is None or not isinstance(prop.value, X):
            return unknown_node(f"the deployment name of module '{info.symbol}'")
        env = self.loop_env(info, index if index is not None else call("copyIndex"), self.env)
        return self.node(prop.value, env)

    def _module(self, info: ModuleInfo, pointer: str) -> dict:
        d = info.decl
        self.at(pointer, d.pos)
        env = self.loop_env(info, call("copyIndex"), self.env) if info.loop is not None else self.env
        out: dict[str, Any] = {"type": "Microsoft.Resources/deployments", "apiVersion": DEPLOYMENTS_API,
                               "name": self._raw_or_node(self.module_name(info, None))}
        self.at(join_pointer(pointer, "name"), info.props["name"].pos if "name" in info.props else d.pos)
        if info.condition is not None:
            out["condition"] = self.node(info.condition, env)
            self.at(join_pointer(pointer, "condition"), info.condition.pos)
        if info.loop is not None:
            self.at(join_pointer(pointer, "copy"), info.loop.pos)
            out["copy"] = {"name": info.symbol, "count": call("length", self.node(info.loop.c, self.env))}
        scope = info.props.get("scope")
        if scope is not None and isinstance(scope.value, X):
            self._module_scope(out, scope.value, env, pointer, scope.pos)
        props_pointer = join_pointer(pointer, "properties")
        self.at(props_pointer, d.pos)
        properties: dict[str, Any] = {"expressionEvaluationOptions": {"scope": "inner"}, "mode": "Incremental"}
        out["properties"] = properties
        params_prop = info.props.get("params")
        parameters: dict[str, Any] = {}
        ppointer = join_pointer(props_pointer, "parameters")
        spread_params = False
        if params_prop is not None:
            self.at(ppointer, params_prop.pos)
            value = params_prop.value
            if isinstance(value, X) and value.kind == "obj" and _has_spread(value.a):
                self.note(params_prop.pos, f"module '{info.symbol}': a spread `...` in `params` is not evaluated; "
                          "its resources are not checked")
                spread_params = True
            elif isinstance(value, X) and value.kind == "obj":
                record, positions = self.record, self.positions
                for p in value.a:
                    key = p.key
                    if key is None:
                        continue
                    value_pointer = ""  # (see _set)
                    if record:
                        item_pointer = join_pointer(ppointer, key)
                        value_pointer = item_pointer + "/value"
                        positions[item_pointer] = positions[value_pointer] = (p.line, p.col)
                    item = p.value
                    if item.__class__ is X and item.kind == "for":
                        parameters[key] = {"value": self.node(item, env)}
                    else:
                        parameters[key] = {"value": self.raw(item, env, value_pointer)}
            elif isinstance(value, X):
                parameters = self.node(value, env)  # type: ignore[assignment]
        properties["parameters"] = parameters
        template_pointer = join_pointer(props_pointer, "template")
        self.at(template_pointer, d.pos)
        path = d.type
        template = None if spread_params else self._module_template(info, path, template_pointer)
        if template is not None:
            properties["template"] = template
            self.modules[template_pointer] = Module(info.symbol, path or "", d.line, d.col)
        elif isinstance(path, str):
            properties["templateLink"] = {"id": path}
        return out

    def _module_scope(self, out: dict, x: X, env: Env, pointer: str, pos: tuple[int, int]) -> None:
        if x.kind == "call" and (x.d is None or _is_namespace(x.d)):
            fname = x.a.lower()
            args = [self._raw_or_node(self.node(a, env)) for a in x.b]
            if fname == "resourcegroup" and len(args) == 1:
                out["resourceGroup"] = args[0]
            elif fname == "resourcegroup" and len(args) == 2:
                out["subscriptionId"], out["resourceGroup"] = args
            elif fname == "subscription" and len(args) == 1:
                out["subscriptionId"] = args[0]
            elif fname in ("resourcegroup", "subscription", "tenant", "managementgroup") and not args:
                return
            else:
                out["resourceGroup"] = unknown_node(f"the scope of module ({x.a}(…))")
            self.at(join_pointer(pointer, "resourceGroup"), pos)
            self.at(join_pointer(pointer, "subscriptionId"), pos)
            return
        target, index = self.symbol_ref(x, env)
        if isinstance(target, ResourceInfo) and target.own_type.lower() == "microsoft.resources/resourcegroups":
            out["resourceGroup"] = self.name_node(target, index)
            self.at(join_pointer(pointer, "resourceGroup"), pos)
            return
        out["resourceGroup"] = unknown_node("the scope of module")
        self.at(join_pointer(pointer, "resourceGroup"), pos)

    def _module_template(self, info: ModuleInfo, path: str | None, pointer: str) -> Any:
        d = info.decl
        where = f"module '{info.symbol}'"
        if not isinstance(path, str) or not path:
            self.note(d.pos, f"{where}: its source is not a literal path; not checked")
            return None
        if is_registry_reference(path):
            return self._registry_module_template(info, path, pointer)
        if "://" in path:
            self.note(d.pos, f"{where} comes from '{path}'; its resources are not checked offline")
            return None
        if self.abspath is None:
            self.note(d.pos, f"{where}: '{path}' cannot be resolved without the file's location")
            return None
        abspath = named_path(path, self.abspath, self.scanned)
        if abspath is None:
            self.note(d.pos, f"{where}: '{path}' is outside the repository; not read")
            return None
        cycle = abspath in self.stack or os.path.normcase(abspath) == os.path.normcase(self.abspath)
        self.compiler.checked_cycle(abspath, self.stack, self.abspath, cycle)
        if cycle:
            self.note(d.pos, f"{where}: '{path}' is part of a cycle of modules; not followed")
            return None
        deep = len(self.stack) >= MAX_MODULE_DEPTH
        self.compiler.checked_depth(len(self.stack), deep)
        if deep:
            self.note(d.pos, f"{where}: modules nested deeper than {MAX_MODULE_DEPTH}; not followed")
            return None
        stack = self.stack + (self.abspath,)
        root = fs.confinement_root(os.path.dirname(stack[0]))  # what the module names stays inside
        result = self.compiler.module(abspath, stack, root, lambda: self._load_module(abspath, stack))
        template, modules, problem, notes = result.value
        if problem:
            self.note(d.pos, f"{where}: {problem}; its resources are not checked")
            return None
        for inner, module in modules.items():  # modules the module calls, for messages
            self.modules[pointer + inner] = module
        for inner, label in self.compiler.symbols.get(abspath, {}).items():
            self.symbols[pointer + inner] = label
        self.unread.update(pointer + inner for inner in self.compiler.unread.get(abspath, ()))
        for line, column, message, origin in notes:  # what was skipped inside counts here too
            key = self.note(d.pos, f"{where} ('{path}', line {line}): {message}")
            module_file, at_line, at_column, said, calls = origin or (abspath, line, column, message, ())
            self.note_origins[key] = (module_file, at_line, at_column, said, ((self.abspath, d.line),) + calls)
        return template

    def _registry_module_template(self, info: ModuleInfo, reference: str, pointer: str) -> Any:
        """A `br:`/`ts:` module from Bicep's local module cache (preflight.bicep.registry), read
        like a local JSON module; never fetched. Its notes stay with the file that names it:
        one note per reference, not one more for each file that calls that file."""
        d = info.decl
        where = f"module '{info.symbol}'"
        folder = os.path.dirname(self.abspath) if self.abspath else os.getcwd()
        config = self.compiler.config(folder)
        try:
            abspath = cache_file(reference, config)
        except BadReference as exc:
            self.note(d.pos, f"{where}: '{reference}' is not a valid module reference ({exc}); not checked")
            return None

        def load() -> tuple[Any, dict, str | None, list]:
            if not fs.isfile(abspath):
                return None, {}, "missing", []
            value = self._load_module(abspath, ())[0]
            if value[0] is not None:
                value = (template_of(value[0], reference),) + value[1:]
            return value

        template, _, problem, _ = self.compiler.registry_module(abspath, load).value
        if problem == "missing":
            restore = f"bicep restore {os.path.basename(self.abspath)}" if self.abspath else "bicep restore"
            self.note(d.pos, f"{where} ('{reference}') is not restored, so not checked: run `{restore}`",
                      own=True)
            return None
        if problem:
            self.note(d.pos, f"{where} ('{reference}', cached at {abspath}): {problem}; its resources "
                             "are not checked")
            return None
        return template

    def _load_module(self, abspath: str, stack: tuple[str, ...]) -> tuple:
        """((compiled template, the module calls inside it, problem, notes), its resources'
        symbols, its unread `existing` resources, characters of source, whether the compile ran
        out of stack, its Own) for a module file reached through the chain of calls `stack`."""
        name = os.path.basename(abspath)
        text = self.compiler.read(abspath)
        if text is None:
            return (None, {}, f"'{name}' cannot be read", []), None, None, 0, False, None
        if abspath.lower().endswith((".json", ".jsonc")):
            from ..loaders import LoadError, load_json
            try:
                data = load_json(text)
            except RecursionError:
                return (None, {}, f"'{name}' is not valid JSON", []), None, None, len(text), True, None
            except (LoadError, ValueError):
                return (None, {}, f"'{name}' is not valid JSON", []), None, None, len(text), False, None
            return (data, {}, None, []), None, None, len(text), False, None
        try:
            parsed = parse(text)
        except RecursionError:
            return (None, {}, f"'{name}' is nested too deeply", []), None, None, len(text), True, None
        if parsed.error is not None:
            e = parsed.error
            return ((None, {}, f"'{name}' does not parse (line {e.line}: {e.message})", []), None, None, len(text),
                    False, None)
        # Its positions are kept, during a scan, for the file's own scan (ModuleResult.own).
        record = self.compiler.shared is not None
        unit = Unit(parsed, abspath, self.compiler, record, stack)
        try:
            template = unit.compile()
        except RecursionError:
            return (None, {}, f"'{name}' is nested too deeply", []), None, None, len(text), True, None
        own = Own(text, unit.positions, [(p.line, p.col, p.message) for p in parsed.skipped], unit.notes,
                  unit.note_origins) if record else None
        return _module_value(unit, template), unit.symbols, unit.unread, len(text), False, own

    # ------------------------------------------------------------------- JSON positions

    def _set(self, out: dict, key: str, value: Any, env: Env, pointer: str, pos: tuple[int, int]) -> None:
        """out[key] = value, written at `pos` (`pointer`: out's); a `[for ...]` value becomes a
        property-level `copy` loop, as Bicep compiles it (a map() expression when the object has
        its own `copy` property)."""
        # A unit that records no positions (a module's outside a scan: its template is placed
        # at its call) builds no pointers: they are only ever keys of positions.
        if self.record:
            item_pointer = pointer + "/" + key if "~" not in key and "/" not in key else join_pointer(pointer, key)
            self.positions[item_pointer] = pos
        else:
            item_pointer = pointer
        looped = value.__class__ is X and value.kind == "for"
        is_copy = len(key) == 4 and key.lower() == "copy"
        if not looped and not is_copy:
            out[key] = self.raw(value, env, item_pointer)
            return
        existing = next((k for k in out if k.lower() == "copy"), None)
        if looped and not is_copy and (existing is None or isinstance(out[existing], _Loops)):
            loops = out.setdefault("copy", _Loops())
            cp = join_pointer(join_pointer(pointer, "copy"), len(loops))
            self.at(join_pointer(pointer, "copy"), pos)
            self.at(cp, pos)
            loops.append(self._copy_block(key, value, env, cp, pos))
            return
        if is_copy and existing is not None and isinstance(out[existing], _Loops):
            self.note(pos, "a property named `copy` beside `[for ...]` properties is not evaluated")
            return
        if looped:
            out[key] = self.node(value, env)
            return
        out[key] = self.raw(value, env, item_pointer)

    def _copy_block(self, name: str, loop: X, env: Env, pointer: str, pos: tuple[int, int]) -> dict:
        iterable = self.node(loop.c, env)
        index = call("copyIndex", lit(name))
        names: dict[str, Node] = {}
        if loop.a:
            names[loop.a] = Index(iterable, index)
        if loop.b:
            names[loop.b] = index
        body = loop.d
        if isinstance(body, X) and body.kind == "if":
            self.note(body.pos, "a filtered `[for ... if]` loop outside a resource is not evaluated")
            return {"name": name, "count": unknown_node("a filtered loop"), "input": None}
        self.at(join_pointer(pointer, "input"), body.pos if isinstance(body, X) else pos)
        return {"name": name, "count": call("length", iterable),
                "input": self.raw(body, env.bind(names), join_pointer(pointer, "input"))}

    def raw(self, x: Any, env: Env, pointer: str) -> Any:
        """A value at a JSON position: objects and arrays stay JSON (with positions), anything
        else is an expression tree, or its literal value."""
        if not isinstance(x, X):
            return unknown_node("a nested declaration")
        k = x.kind
        if k == "lit":  # the most frequent: what _raw_or_node makes of its Literal, without one
            value = x.a
            if isinstance(value, str):
                return "[" + value if value.startswith("[") and value.endswith("]") else value
            return self._raw_or_node(lit(value))
        if k == "obj":
            if _obj_has_spread(x.a):
                return self._raw_or_node(self.node(x, env))  # merged at deployment: an expression
            out: dict[str, Any] = {}
            set_ = self._set
            for p in x.a:
                if p.key is None:
                    continue  # a nested resource inside a value: not a property
                set_(out, p.key, p.value, env, pointer, (p.line, p.col))
            return out
        if k == "arr":
            if _arr_has_spread(x.a):
                return self._raw_or_node(self.node(x, env))  # merged at deployment: an expression
            items = []
            raw = self.raw
            if self.record:  # as in _set: pointers only for the positions recorded
                positions = self.positions
                for i, item in enumerate(x.a):
                    item_pointer = f"{pointer}/{i}"
                    positions[item_pointer] = (item.line, item.col)
                    items.append(raw(item, env, item_pointer))
            else:
                for item in x.a:
                    items.append(raw(item, env, pointer))
            return items
        if k == "paren":
            return self.raw(x.a, env, pointer)
        return self._raw_or_node(self.node(x, env))

    @staticmethod
    def _raw_or_node(node: Node) -> Any:
        if isinstance(node, Literal) and not isinstance(node.value, Unknown):
            value = node.value
            if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
                return "[" + value  # a literal that looks like an expression: ARM's `[[` escape
            if isinstance(value, (dict, list)):
                return node  # keep shared literal containers inside the tree
            return value
        return node

    # ---------------------------------------------------------------------- expressions

    def node(self, x: Any, env: Env) -> Node:
        """An expression tree for a Bicep expression."""
        if not isinstance(x, X):
            return unknown_node("a nested declaration")
        k = x.kind  # the kinds by how often they occur
        if k == "ident":
            return self.ident(x, env)
        if k == "lit":
            return lit(x.a)
        if k == "mem" or k == "idx" or k == "res":
            return self.access(x, env)
        if k == "call":
            return self.call(x, env)
        if k == "str":
            fmt = []
            args: list[Node] = [lit("")]  # (the format, set below)
            for part in x.a:
                if isinstance(part, str):
                    fmt.append(part.replace("{", "{{").replace("}", "}}") if "{" in part or "}" in part else part)
                else:
                    fmt.append("{%d}" % (len(args) - 1))
                    args.append(self.node(part, env))
            args[0] = lit("".join(fmt))
            return call_of("format", tuple(args))
        if k == "bin":
            op = x.a
            left, right = self.node(x.b, env), self.node(x.c, env)
            if op == "!=":
                return call("not", call("equals", left, right))
            if op == "=~":
                return call("equals", call("toLower", left), call("toLower", right))
            if op == "!~":
                return call("not", call("equals", call("toLower", left), call("toLower", right)))
            name = _BINARY.get(op)
            if name is None:
                return unknown_node(f"the operator {op}")
            return call(name, left, right)
        if k == "arr" and _arr_has_spread(x.a) or k == "obj" and _obj_has_spread(x.a):
            return self.spread_node(x, env)
        if k == "arr":
            items = [self.node(i, env) for i in x.a]
            if all(isinstance(i, Literal) and not isinstance(i.value, Unknown) for i in items):
                return lit([i.value for i in items])  # type: ignore[attr-defined]
            return call_of("createArray", tuple(items))
        if k == "obj":
            pairs: list[Node] = []
            values: dict[str, Any] = {}
            literal = True
            for p in x.a:
                if p.key is None:
                    continue
                v = self.node(p.value, env) if not (isinstance(p.value, X) and p.value.kind == "for") \
                    else self.for_node(p.value, env)
                pairs += [lit(p.key), v]
                if isinstance(v, Literal) and not isinstance(v.value, Unknown):
                    values[p.key] = v.value
                else:
                    literal = False
            return lit(values) if literal else call_of("createObject", tuple(pairs))
        if k == "paren":
            return self.node(x.a, env)
        if k == "un":
            arg = self.node(x.b, env)
            if x.a == "!":
                return call("not", arg)
            if x.a == "-":
                if isinstance(arg, Literal) and isinstance(arg.value, int) and not isinstance(arg.value, bool):
                    return lit(-arg.value)
                return call("sub", lit(0), arg)
            return unknown_node(f"the operator {x.a}")
        if k == "tern":
            return call("if", self.node(x.a, env), self.node(x.b, env), self.node(x.c, env))
        if k == "lam":
            params = list(x.a or [])
            inner = env.bind({p: call("lambdaVariables", lit(p)) for p in params})
            return call("lambda", *[lit(p) for p in params], self.node(x.b, inner))
        if k == "for":
            return self.for_node(x, env)
        if k == "if":
            self.note(x.pos, "an `if` here is not evaluated")
            return unknown_node("an `if` expression")
        if k == "bad":
            return unknown_node(str(x.a or "an unreadable expression"))
        return unknown_node(k)

    def spread_node(self, x: X, env: Env) -> Node:
        """An array or object with `...spread` items, as Bicep compiles it: flatten() of the
        arrays, shallowMerge() of the objects, in order."""
        pieces: list[Node] = []
        run: list[Any] = []
        for item in x.a:
            if _is_spread(item):
                if run:
                    pieces.append(self.node(X(x.kind, x.pos, run), env))
                    run = []
                pieces.append(self.node((item.value if isinstance(item, Prop) else item).a, env))
            else:
                run.append(item)
        if run:
            pieces.append(self.node(X(x.kind, x.pos, run), env))
        return call("flatten" if x.kind == "arr" else "shallowMerge", call("createArray", *pieces))

    def for_node(self, x: X, env: Env) -> Node:
        """`[for (item, i) in xs: body]` as an expression: map(xs, lambda(item, i, body))."""
        if isinstance(x.d, X) and x.d.kind == "if":
            self.note(x.pos, "a filtered `[for ... if]` loop outside a resource is not evaluated")
            return unknown_node("a filtered loop")
        iterable = self.node(x.c, env)
        item = x.a or "__item"
        names: dict[str, Node] = {item: call("lambdaVariables", lit(item))}
        params = [lit(item)]
        if x.b:
            names[x.b] = call("lambdaVariables", lit(x.b))
            params.append(lit(x.b))
        return call("map", iterable, call("lambda", *params, self.node(x.d, env.bind(names))))

    def ident(self, x: X, env: Env) -> Node:
        name = x.a
        if name in env.locals:
            return env.locals[name]
        if env.function:
            if name in self.funcs:
                return unknown_node(f"function '{name}' used as a value")
            return unknown_node(name)
        if name in self.params:
            node = self._param_nodes.get(name)
            if node is None:  # one tree for all its uses: trees are never changed once built
                node = self._param_nodes[name] = call("parameters", lit(name))
            return node
        if name in self.vars:
            return self.var_node(name)
        if name in self.resources or name in self.module_infos or name in env.scoped:
            return unknown_node(f"resource or module '{name}' used as a value")
        if name in self.imports:
            # One note per imported name, at the import (where a suppression goes), not one per use:
            # a file that reads `const.x` on every line would bury its findings under copies.
            imported = self.imports[name]
            self.note((imported.line, imported.col),
                      f"'{name}' is imported from '{imported.type}': the values read from it are not evaluated")
            return unknown_node(f"the imported '{name}'")
        self.note(x.pos, f"'{name}' is not declared in this file; its value is not evaluated")
        return unknown_node(name)

    # ------------------------------------------------------------------ symbol references

    def symbol_ref(self, x: Any, env: Env) -> tuple[ResourceInfo | ModuleInfo | None, Node | None]:
        """The resource or module a `sym`, `sym[i]` or `a::b` expression names, with the index."""
        if not isinstance(x, X):
            return None, None
        if x.kind == "paren":
            return self.symbol_ref(x.a, env)
        if x.kind == "ident":
            if x.a in env.locals or env.function:
                return None, None
            target = env.scoped.get(x.a) or self.resources.get(x.a) or self.module_infos.get(x.a)
            return target, None
        if x.kind == "idx" and isinstance(x.b, X):
            target, index = self.symbol_ref(x.a, env)
            if target is not None and index is None and target.loop is not None:
                return target, self.node(x.b, env)
            return None, None
        if x.kind == "res":
            parent, _ = self.symbol_ref(x.a, env)
            if isinstance(parent, ResourceInfo):
                return parent.children.get(x.b), None
        return None, None

    def access(self, x: X, env: Env) -> Node:
        """Member, index and `::` access, with symbolic references to resources and modules."""
        if x.kind == "mem":
            if isinstance(x.a, X) and x.a.kind == "mem" and x.a.b.lower() == "outputs":
                target, index = self.symbol_ref(x.a.a, env)
                if isinstance(target, ModuleInfo):  # m.outputs.x -> reference(...).outputs.x.value
                    return Member(Member(self.module_member(target, index, x.a, env), x.b), "value")
            target, index = self.symbol_ref(x.a, env)
            if isinstance(target, ResourceInfo):
                return self.resource_member(target, index, x, env)
            if isinstance(target, ModuleInfo):
                return self.module_member(target, index, x, env)
            base = self.node(x.a, env)
            if x.c and not _runtime(base):
                return call("tryGet", base, lit(x.b))
            return Member(base, x.b)
        if x.kind == "idx":
            target, _ = self.symbol_ref(x.a, env)
            if target is not None:
                return unknown_node(f"'{getattr(target, 'symbol', '?')}' used as a value")
            base = self.node(x.a, env)
            index = self.node(x.b, env)
            if x.c and not _runtime(base):
                return call("tryGet", base, index)
            return Index(base, index)
        return unknown_node("a nested resource used as a value")

    def resource_member(self, info: ResourceInfo, index: Node | None, x: X, env: Env) -> Node:
        if info.looped and index is None:
            return unknown_node(f"'{info.symbol}.{x.b}' (a resource collection)")
        member = x.b.lower()
        if member == "id":
            return self.id_node(info, index)
        if member == "name":  # the name as declared (a child's own segment), as Bicep reads it
            prop = info.props.get("name")
            if prop is None or not isinstance(prop.value, X):
                return unknown_node(f"the name of resource '{info.symbol}'")
            return self.node(prop.value, self.resource_env(info, index))
        if member == "type":
            return lit(self.type_of(info))
        if member == "apiversion":
            return lit(info.api)
        info.read = True  # a GET of the resource at its apiVersion
        if member == "properties":
            return self.reference_node(info, index, False)
        return Member(self.reference_node(info, index, True), x.b)

    def module_member(self, info: ModuleInfo, index: Node | None, x: X, env: Env) -> Node:
        if info.loop is not None and index is None:
            return unknown_node(f"'{info.symbol}.{x.b}' (a module collection)")
        member = x.b.lower()
        if member == "name":
            return self.module_name(info, index)
        ref = call("reference", call("resourceId", lit("Microsoft.Resources/deployments"),
                                     self.module_name(info, index)), lit(DEPLOYMENTS_API))
        return Member(ref, x.b)

    # -------------------------------------------------------------------------- calls

    def call(self, x: X, env: Env) -> Node:
        name: str = x.a
        target = x.d
        if target is not None and not _is_namespace(target):
            ref, index = self.symbol_ref(target, env)
            if isinstance(ref, ResourceInfo):
                lower = name.lower()
                if lower == "getsecret":
                    return unknown_node(f"{ref.symbol}.getSecret(…)", SECRET)
                if lower.startswith("list"):
                    ref.read = True
                    args = [self.id_node(ref, index), lit(ref.api)] + [self.node(a, env) for a in x.b]
                    return SymbolRead(name, tuple(args))
                return unknown_node(f"{ref.symbol}.{name}(…)")
            return unknown_node(f"the function {name}() of an expression")
        lower = name.lower()
        if name in self.funcs:
            return call_of(f"{FUNCTION_NAMESPACE}.{name}", tuple([self.node(a, env) for a in x.b]))
        if lower == "any" and len(x.b) == 1:
            return self.node(x.b[0], env)
        if lower in ("loadtextcontent", "loadjsoncontent", "loadyamlcontent", "loadfileasbase64"):
            return self.load_content(x, lower, env)
        if lower == "getsecret":
            return unknown_node("getSecret(…)", SECRET)
        if lower in ("readenvironmentvariable", "externalinput", "loadresourcepackage"):
            return unknown_node(f"{name}(…)")
        if name in self.imports:
            return unknown_node(f"the imported function {name}()")
        node = self.node
        return call_of(name, tuple([node(a, env) for a in x.b]))

    def load_content(self, x: X, lower: str, env: Env) -> Node:
        what = f"{x.a}(…)"
        if not x.b or x.b[0].kind != "lit" or not isinstance(x.b[0].a, str) or self.abspath is None:
            return unknown_node(what)
        rel = x.b[0].a
        path = named_path(rel, self.abspath, self.scanned)
        if path is None:
            self.note(x.pos, f"'{rel}' is outside the repository; {x.a}() is not evaluated")
            return unknown_node(what)
        raw = read_regular(path, MAX_LOAD_BYTES)
        if raw is None:
            self.note(x.pos, f"'{rel}' cannot be read; {x.a}() is not evaluated")
            return unknown_node(what)
        if lower == "loadfileasbase64":
            import base64
            return lit(base64.b64encode(raw).decode("ascii"))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return unknown_node(what)
        if lower == "loadtextcontent":
            return lit(text)
        if len(x.b) > 1:
            return unknown_node(what)  # a JSON path or an encoding: not evaluated
        try:
            if lower == "loadjsoncontent":
                from ..loaders import load_json
                data = load_json(text)
            else:
                import yaml
                data = yaml.safe_load(text)
        except Exception:  # noqa: BLE001 - any parse failure: the value is unknown
            return unknown_node(what)
        try:
            json.dumps(data)
        except (TypeError, ValueError):
            return unknown_node(what)
        return lit(data)


# ---------------------------------------------------------------------------------- helpers


def _decorator_name(x: X) -> str:
    if isinstance(x, X) and x.kind == "call":
        return x.a.lower()
    return ""


def _is_spread(item: Any) -> bool:
    """`...x`: an array item, or an object's property without a key."""
    if isinstance(item, Prop):
        item = item.value
    return isinstance(item, X) and item.kind == "spread"


def _has_spread(items: list) -> bool:
    """Whether an array's items or an object's properties hold a `...x`."""
    return _obj_has_spread(items) or _arr_has_spread(items)


def _obj_has_spread(props: list) -> bool:
    """Whether an object's properties hold a `...x` (a property without a key: a plain loop,
    it runs for every object compiled)."""
    for p in props:
        if p.key is None:
            value = p.value
            if value.__class__ is X and value.kind == "spread":
                return True
    return False


def _arr_has_spread(items: list) -> bool:
    """Whether an array's items hold a `...x`."""
    for item in items:
        if item.__class__ is X and item.kind == "spread":
            return True
    return False


def _is_namespace(x: Any) -> bool:
    return isinstance(x, X) and x.kind == "ident" and x.a in ("az", "sys")


def _runtime(node: Any) -> bool:
    """Whether an expression reads values only known while deploying (reference(), list*()).
    (A walk of its own, not `walk`: every variable and every `.?` access asks, and the answer
    does not depend on the order the nodes are seen in.)"""
    if not isinstance(node, Node):
        return False
    stack = [node]
    pop, push = stack.pop, stack.append
    while stack:
        n = pop()
        if isinstance(n, Call):
            name = n.name
            if name == "reference" or name == "references" or name.startswith("list"):
                return True
            stack.extend(n.args)
        elif isinstance(n, Literal):
            value = n.value
            if isinstance(value, Unmapped) and value.needs and next(iter(value.needs))[0] == SECRET:
                return True
        elif isinstance(n, Member):
            push(n.target)
        elif isinstance(n, Index):
            push(n.target)
            push(n.index)
    return False


def _split_union(text: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    quote = False
    for ch in text:
        if ch == "'":
            quote = not quote
        if ch == "|" and not quote:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _split_name(x: X, segments: int) -> list[Any] | None:
    """Split a slash-separated name `'${a}/b'` into its segments when the slashes are literal."""
    if x.kind == "lit" and isinstance(x.a, str):
        pieces = x.a.split("/")
        return pieces if len(pieces) == segments else None
    if x.kind != "str":
        return None
    out: list[Any] = []
    current: list[Any] = []
    for part in x.a:
        if isinstance(part, str):
            pieces = part.split("/")
            for i, piece in enumerate(pieces):
                if i > 0:
                    out.append(current)
                    current = []
                if piece:
                    current.append(piece)
        else:
            current.append(part)
    out.append(current)
    if len(out) != segments:
        return None
    result: list[Any] = []
    for seg in out:
        if not seg:
            return None
        if len(seg) == 1:
            result.append(seg[0] if isinstance(seg[0], X) else seg[0])
        else:
            result.append(X("str", x.pos, seg))
    return result


def _join_name(parts: list[Node]) -> Node:
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, Literal) and isinstance(p.value, str) for p in parts):
        return lit("/".join(p.value for p in parts))  # type: ignore[attr-defined]
    fmt = "/".join("{%d}" % i for i in range(len(parts)))
    return call("format", lit(fmt), *parts)


def source_text(x: Any, limit: int = 60) -> str:
    """A Bicep expression written back as Bicep (for messages): `'kv-${suffix}'`, `name`."""
    text = _source(x, 0)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _source(x: Any, depth: int) -> str:
    if not isinstance(x, X) or depth > 20:
        return "…"
    k, a, b, c = x.kind, x.a, x.b, x.c
    if k == "lit":
        if isinstance(a, str):
            return "'" + a.replace("\\", "\\\\").replace("'", "\\'").replace("${", "\\${") + "'"
        return "null" if a is None else str(a).lower() if isinstance(a, bool) else str(a)
    if k == "str":
        parts = [p.replace("\\", "\\\\").replace("'", "\\'").replace("${", "\\${") if isinstance(p, str)
                 else "${" + _source(p, depth + 1) + "}" for p in a]
        return "'" + "".join(parts) + "'"
    if k == "ident":
        return str(a)
    if k == "paren":
        return "(" + _source(a, depth + 1) + ")"
    if k == "mem":
        return _source(a, depth + 1) + (".?" if c else ".") + str(b)
    if k == "idx":
        return _source(a, depth + 1) + ("[?" if c else "[") + _source(b, depth + 1) + "]"
    if k == "res":
        return _source(a, depth + 1) + "::" + str(b)
    if k == "call":
        head = (_source(x.d, depth + 1) + "." if x.d is not None else "") + str(a)
        return head + "(" + ", ".join(_source(arg, depth + 1) for arg in b or ()) + ")"
    if k == "un":
        return str(a) + _source(b, depth + 1)
    if k == "bin":
        return f"{_source(b, depth + 1)} {a} {_source(c, depth + 1)}"
    if k == "tern":
        return f"{_source(a, depth + 1)} ? {_source(b, depth + 1)} : {_source(c, depth + 1)}"
    if k == "arr":
        return "[…]"
    if k == "obj":
        return "{…}"
    return "…"


def _read_text(abspath: str) -> str | None:
    raw = read_regular(abspath, MAX_MODULE_BYTES)
    if raw is None:
        return None
    from ..loaders import LoadError, decode
    try:
        return decode(raw)  # UTF-8, or the UTF-16/32 a byte-order mark announces
    except LoadError:
        return None


class Compiled:
    """The result of compiling one Bicep file (`parsed`: None when taken from a module's
    compile, `scanned_compile`)."""

    def __init__(self, template: Any, positions: dict, notes: list, modules: dict, parsed: Parsed | None,
                 symbols: dict | None = None, note_origins: dict | None = None, unread: set | None = None):
        self.template = template
        self.positions = positions
        self.notes = notes
        self.modules = modules
        self.parsed = parsed
        self.symbols = symbols or {}  # resource pointer -> (Bicep symbol, its name as written)
        self.note_origins = note_origins or {}  # a note repeated from a module -> where it is written
        self.unread = unread or set()  # pointers of the `existing` resources nothing reads


def _module_value(unit: Unit, template: Any) -> tuple[Any, dict, None, list]:
    """A compiled module as its callers take it: (template, the module calls inside it, no
    problem, the notes they repeat: its own first 20, with where each is written)."""
    notes = [(p.line, p.col, p.message) for p in unit.parsed.skipped] + \
        [n for n in unit.notes if n not in unit.own_notes]
    return template, unit.modules, None, [n + (unit.note_origins.get(n),) for n in sorted(notes)[:20]]


def scanned_compile(abspath: str, text: str) -> Compiled | None:
    """A scanned file's compile, when a caller's compile of it as a module made it already in
    this scan (ModuleResult.own) from the same text: the file is then neither parsed nor
    compiled again. None otherwise."""
    shared = reuse.current()
    if shared is None:
        return None
    kept = shared.get((abspath, fs.confinement_root(os.path.dirname(abspath))))
    own = kept.own if kept is not None else None
    if own is None or own.text != text or not kept.fits(()):
        return None
    shared.hits += 1
    fs.replay(kept.deps)
    template, modules = kept.value[0], kept.value[1]
    return Compiled(template, own.positions, sorted(own.skipped + own.notes), modules, None, kept.symbols,
                    own.note_origins, kept.unread)


def compile_parsed(parsed: Parsed, abspath: str | None, compiler: Compiler | None = None,
                   module: bool = False) -> Compiled:
    """Compile a scanned file. `module`: it may also be a module of other files (a .bicep file,
    not a .bicepparam one), which then reuse this compile during a scan (preflight.bicep.reuse)."""
    compiler = compiler or Compiler()
    unit = Unit(parsed, abspath, compiler, True, ())
    if module and abspath is not None and compiler.shared is not None:
        template = compiler.compile_shared(unit)
    else:
        template = unit.compile()
    notes = [(p.line, p.col, p.message) for p in parsed.skipped] + unit.notes
    notes.sort()
    return Compiled(template, unit.positions, notes, unit.modules, parsed, unit.symbols, unit.note_origins,
                    unit.unread)
