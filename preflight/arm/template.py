"""The template model: what a template declares, independent of JSON text and of any values.

    Template            parameters, variables, functions, resources (+ where it came from)
      ParameterDecl     type, defaultValue, allowedValues, min/max, nullable (`$ref` types resolved)
      VariableDecl      a value, or a variable `copy` loop
      ResourceDecl      type, name, apiVersion, condition, copy, properties, existing,
                        nested children, and for Microsoft.Resources/deployments a DeploymentSpec
      DeploymentSpec    inner/outer scope, inline Template or relativePath link, parameters,
                        subscriptionId/resourceGroup overrides

Fields hold *raw template values*: JSON values whose strings may be `[...]` expressions, or
expression trees (`preflight.arm.expressions.Node`) supplied by another front end. Nothing here
evaluates. `pointer` fields are JSON pointers into the source document; positions are looked up
through the document (`Document.locate`), never stored here.

`Template.from_json(data, document, pointer)` reads an ARM JSON template. Keywords are matched
exact-first, then case-insensitively, as ARM does. A Bicep front end builds the same objects
with the dataclass constructors.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from ..loaders import join_pointer


class _Absent:
    """Marks a property that is not in the template (distinct from JSON null)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()


class Backref:
    """A field naming the object that owns this one (a resource's template, a resource instance's
    evaluation), held weakly: the owner holds its parts, so a strong pointer back would make a
    reference cycle, and every checked file's models would wait for the cyclic garbage collector
    instead of being freed when the file is dropped. Reading it after the owner was freed is a
    programming error (ReferenceError), never a silent None. As a dataclass field's default it
    reads None."""

    __slots__ = ("slot",)

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}_ref"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return None
        ref = obj.__dict__.get(self.slot)
        if ref is None:
            return None
        target = ref()
        if target is None:
            raise ReferenceError(f"{type(obj).__name__}.{self.slot[1:-4]}: its owner was already freed")
        return target

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = None if value is None else weakref.ref(value)

DEPLOYMENTS = "microsoft.resources/deployments"


def kitem(obj: Any, key: str) -> tuple[str, Any] | None:
    """(actual key, value) for `key` in a dict: exact match first, then case-insensitive."""
    if not isinstance(obj, dict):
        return None
    if key in obj:
        return key, obj[key]
    lower, size = key.lower(), len(key)
    for k, v in obj.items():
        if isinstance(k, str) and len(k) == size and k.lower() == lower:
            return k, v
    return None


def kget(obj: Any, key: str, default: Any = ABSENT) -> Any:
    """The value under `key` (exact, then case-insensitive), or `default`."""
    found = kitem(obj, key)
    return default if found is None else found[1]


@dataclass
class ParameterDecl:
    name: str
    type: str | None  # lower-cased: string, securestring, int, bool, object, secureobject, array
    default: Any = ABSENT
    allowed: Any = ABSENT
    min_value: Any = ABSENT
    max_value: Any = ABSENT
    min_length: Any = ABSENT
    max_length: Any = ABSENT
    nullable: bool = False
    pointer: str = ""


@dataclass
class CopySpec:
    """A copy loop: resource-level (`count` instances), property- or variable-level (`input`)."""

    name: str | None
    count: Any
    input: Any = ABSENT
    mode: Any = ABSENT
    pointer: str = ""


@dataclass
class VariableDecl:
    name: str
    value: Any = ABSENT  # raw value; ABSENT for a copy-generated variable
    copy: CopySpec | None = None
    pointer: str = ""


@dataclass
class FunctionDecl:
    """A user-defined function (`functions` section): parameters and an output expression."""

    name: str  # namespace.member, as declared
    parameters: list[str]
    output: Any
    pointer: str = ""


@dataclass
class DeploymentSpec:
    """What a `Microsoft.Resources/deployments` resource deploys."""

    scope: str  # "inner" | "outer" (the raw value when it is neither: treated as outer)
    template: "Template | None" = None  # inline template
    relative_path: Any = ABSENT  # templateLink.relativePath (raw)
    link: Any = ABSENT  # templateLink uri / id (raw), for messages
    parameters: Any = ABSENT  # properties.parameters (raw: {name: {value|reference}})
    parameters_link: Any = ABSENT
    subscription_id: Any = ABSENT
    resource_group: Any = ABSENT
    pointer: str = ""  # of properties.template (or of templateLink)
    # (lower-cased name, raw value, is a Key Vault reference) of each parameter a literal
    # `parameters` object passes: read once, for every instance that deploys it (see
    # `deployments._nested_inputs`)
    given: list[tuple[str, Any, bool]] | None = field(default=None, compare=False, repr=False)


@dataclass(eq=False)
class ResourceDecl:
    type: Any  # as written: full type at top level, the short type for nested children
    name: Any
    api_version: Any = ABSENT
    condition: Any = ABSENT
    copy: CopySpec | None = None
    properties: Any = ABSENT
    existing: bool = False
    pointer: str = ""
    symbolic_name: str | None = None
    parent: "ResourceDecl | None" = Backref()  # type: ignore[assignment]  # the resource it is nested in
    children: list["ResourceDecl"] = field(default_factory=list)
    body: dict = field(default_factory=dict)  # the whole resource, raw (sku, identity, metadata, ...)
    deployment: DeploymentSpec | None = None
    template: "Template | None" = Backref()  # type: ignore[assignment]  # the template that declares it

    def __post_init__(self) -> None:
        if not self.body:  # built by another front end from the fields: the body follows them
            fields = (("type", self.type), ("name", self.name), ("apiVersion", self.api_version),
                      ("condition", self.condition), ("properties", self.properties))
            self.body = {k: v for k, v in fields if v is not ABSENT and v is not None}
            if self.existing:
                self.body["existing"] = True

    @property
    def static_type(self) -> str | None:
        """The full resource type when it is literal text (it nearly always is)."""
        own = self.type if isinstance(self.type, str) and not self.type.startswith("[") else None
        if own is None:
            return None
        if self.parent is None:
            return own
        parent = self.parent.static_type
        return f"{parent}/{own}" if parent else None


@dataclass(eq=False)
class Template:
    parameters: dict[str, ParameterDecl] = field(default_factory=dict)  # by lower-cased name
    variables: dict[str, VariableDecl] = field(default_factory=dict)  # by lower-cased name
    functions: dict[str, FunctionDecl] = field(default_factory=dict)  # by lower-cased ns.name
    resources: list[ResourceDecl] = field(default_factory=list)  # top level, document order
    language_version: str | None = None
    document: Any = None  # the source Document (or any object with .path/.abspath), if any
    pointer: str = ""  # where this template sits in its document ("" for the root)
    raw: Any = None
    # What other modules compute from the template, kept with it so each is computed once
    # (keyed by what it is, e.g. "references": `preflight.arm.references.references_of`).
    derived: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def symbolic(self) -> bool:
        """languageVersion 2.0+: resources keyed by symbolic name; `reference()` in variables allowed."""
        return self.language_version is not None

    def all_resources(self) -> list[ResourceDecl]:
        """Every resource declared in this template, nested children included (not those of
        nested deployments' templates), each before its children. A template read from JSON
        keeps the list it read them in (`from_json` never changes a template it returned); one
        built otherwise is walked on each call."""
        read = self.derived.get(_ALL_RESOURCES)
        if read is not None:
            return list(read)
        out: list[ResourceDecl] = []
        stack = list(reversed(self.resources))
        while stack:
            r = stack.pop()
            out.append(r)
            stack.extend(reversed(r.children))
        return out

    def by_symbolic_name(self, name: str) -> ResourceDecl | None:
        for r in self.all_resources():
            if r.symbolic_name is not None and r.symbolic_name.lower() == name.lower():
                return r
        return None

    # ---------------------------------------------------------------------------- reading JSON

    @classmethod
    def from_json(cls, data: Any, document: Any = None, pointer: str = "", _depth: int = 0) -> "Template":
        t = cls(document=document, pointer=pointer, raw=data)
        if not isinstance(data, dict):
            return t
        if data.keys() <= _TEMPLATE_KEYS:
            lv = data.get("languageVersion")
            parameters, variables, functions, resources = (
                (key, data[key]) if key in data else None
                for key in ("parameters", "variables", "functions", "resources"))
        else:
            lv = kget(data, "languageVersion", None)
            parameters, variables, functions, resources = (
                kitem(data, key) for key in ("parameters", "variables", "functions", "resources"))
        t.language_version = str(lv) if lv not in (None, ABSENT) else None
        if parameters and isinstance(parameters[1], dict):
            base = join_pointer(pointer, parameters[0])
            declared = t.parameters
            for name, spec in parameters[1].items():
                if isinstance(name, str):
                    if isinstance(spec, dict) and "$ref" in spec:
                        spec = resolve_type(spec, data)
                    # (`join_pointer`, inlined for the names that need no escape: nearly all)
                    at = f"{base}/{name}" if "~" not in name and "/" not in name else join_pointer(base, name)
                    declared[name.lower()] = _parameter(name, spec, at)
        if variables and isinstance(variables[1], dict):
            base = join_pointer(pointer, variables[0])
            named = t.variables
            for name, value in variables[1].items():
                if not isinstance(name, str):
                    continue
                lower = name.lower()
                if lower == "copy" and isinstance(value, list):
                    for i, spec in enumerate(value):
                        copy = _copy_spec(spec, join_pointer(join_pointer(base, name), i))
                        if copy is not None and copy.name:
                            named[copy.name.lower()] = VariableDecl(copy.name, ABSENT, copy, copy.pointer)
                    continue
                at = f"{base}/{name}" if "~" not in name and "/" not in name else join_pointer(base, name)
                named[lower] = VariableDecl(name, value, None, at)
        if functions and isinstance(functions[1], list):
            _functions(t, functions[1], join_pointer(pointer, functions[0]))
        read: list[ResourceDecl] = []  # every resource as it is read, each before its children
        if resources:
            base = join_pointer(pointer, resources[0])
            if isinstance(resources[1], list):
                for i, spec in enumerate(resources[1]):
                    r = _resource(spec, f"{base}/{i}", None, None, t, _depth, read)
                    if r is not None:
                        t.resources.append(r)
            elif isinstance(resources[1], dict):
                for name, spec in resources[1].items():
                    r = _resource(spec, join_pointer(base, name), str(name), None, t, _depth, read)
                    if r is not None:
                        t.resources.append(r)
        t.derived[_ALL_RESOURCES] = read
        return t


MAX_NESTING = 16  # inline nested templates within one document
_ALL_RESOURCES = "template.all-resources"  # (Template.derived) what from_json read


def _lowered(obj: dict) -> dict[str, tuple[str, Any]]:
    """lower-cased key -> (key, value); an exact-case key wins over other casings."""
    out: dict[str, tuple[str, Any]] = {}
    for k, v in obj.items():
        if isinstance(k, str):
            lower = k.lower()
            if lower not in out or k == _CANONICAL.get(lower):
                out[lower] = (k, v)
    return out


_CANONICAL = {k.lower(): k for k in (
    "type", "defaultValue", "allowedValues", "minValue", "maxValue", "minLength", "maxLength", "nullable",
    "name", "apiVersion", "condition", "copy", "properties", "existing", "resources", "count", "input", "mode")}


_NO_HIT = (None, ABSENT)  # a `_lowered` entry for a keyword that is not there


def _plain_keys(keywords: tuple[str, ...], others: tuple[str, ...]) -> frozenset[str]:
    """The keys of an object whose keywords can be read by exact key: each keyword as written
    here, and other names that are no casing of a keyword. When every key of an object is among
    them (`obj.keys() <= plain`), no keyword is written in another casing, so `obj.get(keyword)`
    is what the case-insensitive reading finds; templates nearly always write them so, and the
    case-insensitive reading (a lower-cased copy of each key) is left for the others."""
    lowered = {k.lower() for k in keywords}
    assert not any(o.lower() in lowered for o in others)
    return frozenset(keywords + others)


_TEMPLATE_KEYS = _plain_keys(
    ("parameters", "variables", "functions", "resources", "languageVersion"),
    ("$schema", "contentVersion", "outputs", "metadata", "definitions", "apiProfile", "imports", "extensions"))
_PARAMETER_KEYS = _plain_keys(
    ("type", "defaultValue", "allowedValues", "minValue", "maxValue", "minLength", "maxLength", "nullable"),
    ("metadata", "items", "properties", "additionalProperties", "discriminator", "prefixItems", "sealed"))
_RESOURCE_KEYS = _plain_keys(
    ("type", "name", "apiVersion", "condition", "copy", "properties", "existing", "resources",
     "subscriptionId", "resourceGroup"),
    ("location", "dependsOn", "tags", "sku", "kind", "identity", "scope", "metadata", "comments", "zones",
     "plan", "extendedLocation", "managedBy", "import"))
_DEPLOYMENT_KEYS = _plain_keys(
    ("expressionEvaluationOptions", "template", "templateLink", "parameters", "parametersLink"),
    ("mode", "debugSetting", "onErrorDeployment", "validationLevel"))
_COPY_KEYS = _plain_keys(("name", "count", "input", "mode"), ("batchSize",))


def _parameter(name: str, spec: Any, pointer: str) -> ParameterDecl:
    if not isinstance(spec, dict):
        return ParameterDecl(name, None, pointer=pointer)
    if spec.keys() <= _PARAMETER_KEYS:
        value = spec.get
        ptype = value("type")
        return ParameterDecl(
            name, ptype.lower() if isinstance(ptype, str) else None,
            value("defaultValue", ABSENT), value("allowedValues", ABSENT), value("minValue", ABSENT),
            value("maxValue", ABSENT), value("minLength", ABSENT), value("maxLength", ABSENT),
            value("nullable") is True, pointer)
    low = _lowered(spec)
    get = low.get  # lower-cased keyword -> (key, value); every template has many parameters
    ptype = get("type", (None, None))[1]
    return ParameterDecl(
        name, ptype.lower() if isinstance(ptype, str) else None,
        default=get("defaultvalue", _NO_HIT)[1], allowed=get("allowedvalues", _NO_HIT)[1],
        min_value=get("minvalue", _NO_HIT)[1], max_value=get("maxvalue", _NO_HIT)[1],
        min_length=get("minlength", _NO_HIT)[1], max_length=get("maxlength", _NO_HIT)[1],
        nullable=get("nullable", (None, False))[1] is True, pointer=pointer)


MAX_TYPE_REFS = 32  # `$ref` hops from a parameter to the type that defines it


def resolve_type(spec: Any, root: Any) -> Any:
    """A parameter (or type) declaration with its `$ref` chain resolved (languageVersion 2.0
    user-defined types: `{"$ref": "#/definitions/x"}`, a definition referring to another): the
    keywords of each referenced type, those written nearer the parameter winning, and `nullable`
    when any type on the way is nullable (`type x = string?`). `#/...` points into the template
    that declares the parameter. A reference that cannot be followed (outside the template, a
    cycle) leaves the keywords found so far."""
    if not isinstance(spec, dict) or not isinstance(spec.get("$ref"), str):
        return spec
    merged = {k: v for k, v in spec.items() if k != "$ref"}
    nullable = kget(spec, "nullable", None) is True
    ref, seen = spec["$ref"], set[str]()
    while isinstance(ref, str) and ref not in seen and len(seen) < MAX_TYPE_REFS:
        seen.add(ref)
        target = _at_pointer(root, ref)
        if not isinstance(target, dict):
            break
        nullable = nullable or kget(target, "nullable", None) is True
        for k, v in target.items():
            if k != "$ref" and kitem(merged, k) is None:
                merged[k] = v
        ref = target.get("$ref")
    if nullable:
        merged["nullable"] = True
    return merged


def _at_pointer(root: Any, ref: str) -> Any:
    """The value a `#/a/b` reference names in `root`, or None."""
    if not ref.startswith("#/"):
        return None
    node = root
    for raw in ref[2:].split("/"):
        seg = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            found = kitem(node, seg)
            node = found[1] if found is not None else None
        elif isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
            node = node[int(seg)]
        else:
            return None
    return node


def _copy_spec(spec: Any, pointer: str) -> CopySpec | None:
    if not isinstance(spec, dict):
        return None
    if spec.keys() <= _COPY_KEYS:
        name = spec.get("name")
        return CopySpec(name if isinstance(name, str) else None, spec.get("count", ABSENT),
                        spec.get("input", ABSENT), spec.get("mode", ABSENT), pointer)
    name = kget(spec, "name", None)
    return CopySpec(name if isinstance(name, str) else None, kget(spec, "count"), kget(spec, "input"),
                    kget(spec, "mode"), pointer)


def _functions(t: Template, namespaces: list, pointer: str) -> None:
    for i, ns in enumerate(namespaces):
        if not isinstance(ns, dict):
            continue
        prefix = kget(ns, "namespace", None)
        members = kitem(ns, "members")
        if not isinstance(prefix, str) or not members or not isinstance(members[1], dict):
            continue
        for name, spec in members[1].items():
            if not isinstance(spec, dict):
                continue
            params = [kget(p, "name", None) for p in kget(spec, "parameters", []) or []
                      if isinstance(p, dict)] if isinstance(kget(spec, "parameters", []), list) else []
            output = kget(kget(spec, "output", {}), "value")
            full = f"{prefix}.{name}"
            t.functions[full.lower()] = FunctionDecl(
                full, [p for p in params if isinstance(p, str)], output,
                join_pointer(join_pointer(join_pointer(pointer, i), members[0]), name))


def _resource(spec: Any, pointer: str, symbolic: str | None, parent: ResourceDecl | None,
              template: Template, depth: int, read: list[ResourceDecl]) -> ResourceDecl | None:
    if not isinstance(spec, dict):
        return None
    plain = spec.keys() <= _RESOURCE_KEYS
    if plain:
        get = spec.get
        rtype = get("type")
        if rtype is None:  # e.g. languageVersion 2.0 `import` entries
            return None
        copy_item = ("copy", spec["copy"]) if "copy" in spec else None
        props_item = ("properties", spec["properties"]) if "properties" in spec else None
        children = ("resources", spec["resources"]) if "resources" in spec else None
        name, api_version, condition = get("name"), get("apiVersion", ABSENT), get("condition", ABSENT)
        existing = get("existing", False) is True
    else:
        low = _lowered(spec)
        rtype = low.get("type", _NO_HIT)[1]
        if rtype is None or rtype is ABSENT:
            return None
        copy_item, props_item, children = low.get("copy"), low.get("properties"), low.get("resources")
        name = low.get("name", (None, None))[1]
        api_version, condition = low.get("apiversion", _NO_HIT)[1], low.get("condition", _NO_HIT)[1]
        existing = low.get("existing", (None, False))[1] is True
    copy = _copy_spec(copy_item[1], join_pointer(pointer, copy_item[0])) if copy_item else None
    r = ResourceDecl(
        type=rtype, name=name, api_version=api_version, condition=condition, copy=copy,
        properties=props_item[1] if props_item else ABSENT,
        existing=existing, pointer=pointer, symbolic_name=symbolic, parent=parent,
        body=spec, template=template)
    read.append(r)
    if isinstance(rtype, str) and rtype.lower() == DEPLOYMENTS and props_item and isinstance(props_item[1], dict):
        r.deployment = _deployment(props_item[1], join_pointer(pointer, props_item[0]), template, depth)
        if plain:
            r.deployment.subscription_id = spec.get("subscriptionId", ABSENT)
            r.deployment.resource_group = spec.get("resourceGroup", ABSENT)
        else:
            r.deployment.subscription_id = low.get("subscriptionid", _NO_HIT)[1]
            r.deployment.resource_group = low.get("resourcegroup", _NO_HIT)[1]
    if children and isinstance(children[1], list):
        base = join_pointer(pointer, children[0])
        for i, child in enumerate(children[1]):
            c = _resource(child, f"{base}/{i}", None, r, template, depth, read)
            if c is not None:
                r.children.append(c)
    return r


def _deployment(props: dict, pointer: str, parent: Template, depth: int) -> DeploymentSpec:
    if props.keys() <= _DEPLOYMENT_KEYS:
        options = props.get("expressionEvaluationOptions", {})
        found = ("template", props["template"]) if "template" in props else None
        link = ("templateLink", props["templateLink"]) if "templateLink" in props else None
        parameters, parameters_link = props.get("parameters", ABSENT), props.get("parametersLink", ABSENT)
    else:
        options = kget(props, "expressionEvaluationOptions", {})
        found, link = kitem(props, "template"), kitem(props, "templateLink")
        parameters, parameters_link = kget(props, "parameters"), kget(props, "parametersLink")
    scope = kget(options, "scope", "outer")
    spec = DeploymentSpec(scope=scope.lower() if isinstance(scope, str) else "outer")
    if found and isinstance(found[1], dict) and depth < MAX_NESTING:
        spec.pointer = join_pointer(pointer, found[0])
        spec.template = Template.from_json(found[1], parent.document, spec.pointer, depth + 1)
    if link and isinstance(link[1], dict):
        spec.relative_path = kget(link[1], "relativePath")
        spec.link = kget(link[1], "uri", kget(link[1], "id"))
        if not spec.pointer:
            spec.pointer = join_pointer(pointer, link[0])
    spec.parameters = parameters
    spec.parameters_link = parameters_link
    return spec
