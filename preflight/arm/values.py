"""Values of the three-valued template evaluation.

A *known* value is a plain JSON-like Python value (str, int, bool, None, list, dict). Containers
may hold Unknowns inside: `[{"objectId": <Unknown>}]` is a list of known length 1 whose entry's
objectId is not known, which is exactly what a Key Vault rule needs to say "non-empty".

`Unknown` is everything the evaluator cannot know offline. It says why (`needs`: which inputs
would resolve it), and keeps enough structure for rules to still reason:

- `key`: a symbolic identity. Two Unknowns with the same key are the same value in one
  deployment (`uniqueString(resourceGroup().id)` twice, the same parameter without a value).
- `parts`: for strings built by `concat`/`format` around unknown pieces, the known text and the
  unknown atoms in order, so `format('{0}/add', parameters('kv'))` can still be split at `/`.
- `nonempty`: True when an unknown array is known to have at least one element.

Two subclasses keep the structure rules need:
- `ResourceRef`: `resourceId(...)` whose subscription or resource group is not known: the type
  and the name segments stay comparable.
- `RuntimeValue`: `reference(...)`, `list*(...)` and friends: the target, the API version and
  the property path read from it (`reference(kv).accessPolicies` -> path ('accessPolicies',)).
"""
from __future__ import annotations

import re
from typing import Any, Iterable

# Kinds of missing input, most actionable first (used to order explanations).
PARAMETER = "parameter"  # a parameter without a value: --param / parameter file
SECRET = "secret"  # a Key Vault reference in a parameter file
PLACEHOLDER = "placeholder"  # a parameter file value another tool replaces (GEN-UNIQUE, azd's ${NAME})
CONTEXT = "context"  # subscription(), resourceGroup(), tenant(), deployment(), environment()
RUNTIME = "runtime"  # reference(), list*(): only known while deploying
OPAQUE = "opaque"  # uniqueString(), guid(), utcNow(), newGuid()
LIMIT = "limit"  # a bound of the evaluator (copy count, depth, work)
UNSUPPORTED = "unsupported"  # a function preflight does not evaluate
INVALID = "invalid"  # an expression that does not parse or fails at deployment
LINK = "link"  # a linked template or parameter file that is not available locally

# Nodes in one value, counted as a walk over it meets them (`value_size`): a part shared by
# reference (a variable used twice) counts each time, a string one node per 64 characters, an
# object's keys as strings, an unknown string by its parts. Without it, 30 variables that each
# hold the previous one twice make a value no walk or `string()` finishes.
MAX_VALUE_SIZE = 1_000_000
MAX_STRING = 1_000_000  # characters of a string the evaluator builds
MAX_KEY = 400  # characters of a symbolic key; a longer one is dropped (too long to be useful)

_ORDER = {k: i for i, k in enumerate((PARAMETER, SECRET, PLACEHOLDER, CONTEXT, RUNTIME, LINK, OPAQUE, UNSUPPORTED,
                                       LIMIT, INVALID))}


class Unknown:
    """A value that cannot be known offline, with the reason and what would resolve it."""

    __slots__ = ("needs", "key", "parts", "nonempty")

    def __init__(self, needs: frozenset[tuple[str, str]], key: str | None = None,
                 parts: tuple | None = None, nonempty: bool | None = None):
        self.needs = needs
        self.key = key if key is None or len(key) <= MAX_KEY else None
        self.parts = parts
        self.nonempty = nonempty

    @classmethod
    def because(cls, kind: str, what: str, key: str | None = None, parts: tuple | None = None,
                nonempty: bool | None = None) -> "Unknown":
        return cls(frozenset(((kind, what),)), key, parts, nonempty)

    @property
    def reason(self) -> str:
        """One sentence: what is unknown and how to supply it."""
        return explain(self.needs)

    @property
    def missing_parameters(self) -> list[str]:
        return sorted(what for kind, what in self.needs if kind == PARAMETER)

    def __repr__(self) -> str:
        return f"Unknown({self.key or self.reason!r})"

    def __bool__(self) -> bool:  # an Unknown is never silently true or false
        raise TypeError("an Unknown has no truth value; test it with is_unknown()")


class ResourceRef(Unknown):
    """`resourceId()` (and its variants) with a part that is not known offline."""

    __slots__ = ("type", "names", "subscription", "resource_group", "function")

    def __init__(self, type: Any, names: tuple, subscription: Any = None, resource_group: Any = None,
                 function: str = "resourceId", needs: frozenset | None = None):
        self.type = type
        self.names = names
        self.subscription = subscription
        self.resource_group = resource_group
        self.function = function
        parts: list[Any] = []
        if function in ("resourceId", "subscriptionResourceId"):
            parts += ["/subscriptions/", subscription if subscription is not None else _CURRENT_SUB]
        if function == "resourceId":
            parts += ["/resourceGroups/", resource_group if resource_group is not None else _CURRENT_RG]
        parts += ["/providers/"]
        segments = type.split("/") if isinstance(type, str) else [type]
        parts.append(segments[0])
        for i, seg in enumerate(segments[1:]):
            parts += ["/", seg, "/", names[i] if i < len(names) else ""]
        key = "id:" + "|".join([key_of(p) or "?" for p in parts])
        super().__init__(needs if needs is not None else merge_needs(parts) or
                         frozenset([(CONTEXT, "the subscription and resource group")]),
                         key, normalise_parts(parts))

    @property
    def name(self) -> Any:
        """The last name segment (the resource's own name)."""
        return self.names[-1] if self.names else None

    def __repr__(self) -> str:
        return f"ResourceRef({self.type!r}, {self.names!r})"


class RuntimeValue(Unknown):
    """The result of a function only the deployment knows (`reference`, `listKeys`, ...)."""

    __slots__ = ("function", "target", "api_version", "full", "path", "_call")

    def __init__(self, function: str, target: Any, api_version: Any = None, full: bool = False,
                 path: tuple = (), call: tuple[str, str | None] | None = None):
        self.function = function
        self.target = target
        self.api_version = api_version
        self.full = full
        self.path = path
        # (the call as shown, the start of its key), the same for every property read from it
        # (`.outputs.name.value` is three values): passed on by `member`, not worked out again.
        if call is None:
            target_key = key_of(target)
            call = f"{function}({describe(target)})", f"rt:{function}:{target_key}:" if target_key else None
        self._call = call
        if path:
            shown = call[0] + "".join(f".{p}" for p in path)
            key = call[1] + ".".join(str(p).lower() for p in path) if call[1] is not None else None
        else:  # the call itself: most are read at once for a property, or passed on whole
            shown, key = call
        super().__init__(frozenset(((RUNTIME, shown),)), key)

    def member(self, name: Any) -> "RuntimeValue":
        return RuntimeValue(self.function, self.target, self.api_version, self.full, self.path + (name,), self._call)

    def __repr__(self) -> str:
        return f"RuntimeValue({self.function}, {self.target!r}, {self.path!r})"


_CURRENT_SUB = Unknown.because(CONTEXT, "the subscription id", key="subscription().subscriptionId")
_CURRENT_RG = Unknown.because(CONTEXT, "the resource group", key="resourceGroup().name")


# ---------------------------------------------------------------------------------- pipeline tokens

# Deployment pipelines replace tokens in the files before deploying: Azure Verified Modules'
# tests default a name prefix to `#_namePrefix_#`, which their pipeline fills in. The text
# around a token is as written; what replaces the token is known only where the pipeline runs.
PIPELINE_TOKEN = re.compile(r"(#_[A-Za-z0-9]+_#)")


def pipeline_substituted(text: str) -> Any:
    """A string as deployed: itself, or when it holds pipeline tokens an Unknown string of the
    text around them and one unknown part per token (the same token is the same value)."""
    if "#_" not in text:
        return text
    pieces = PIPELINE_TOKEN.split(text)
    if len(pieces) == 1:
        return text
    parts: list[Any] = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            parts.append(piece)
        else:
            parts.append(Unknown.because(PLACEHOLDER, f"`{piece}` in {text!r} is a token the deployment pipeline "
                                         f"replaces", key=piece))
    parts_t = normalise_parts(parts)
    if len(parts_t) == 1:
        return parts_t[0]
    return Unknown(merge_needs(parts_t), "p:" + "|".join(key_of(p) or "?" for p in parts_t), parts_t)


# ---------------------------------------------------------------------------------- helpers

def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def is_known(value: Any) -> bool:
    """Known at the top level (containers may still hold Unknowns; see `find_unknown`)."""
    return not isinstance(value, Unknown)


def find_unknown(value: Any) -> Unknown | None:
    """The first Unknown inside a value, or None when it is fully known."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Unknown):
            return v
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return None


def merge_needs(values: Iterable[Any]) -> frozenset[tuple[str, str]]:
    out: frozenset[tuple[str, str]] = frozenset()
    for v in values:
        if isinstance(v, Unknown):
            out = out | v.needs
    return out


def unknown_from(inputs: Iterable[Any], key: str | None = None, **kw: Any) -> Unknown:
    """An Unknown caused by the Unknowns among `inputs` (deeply)."""
    needs: frozenset[tuple[str, str]] = frozenset()
    for v in inputs:
        if isinstance(v, Unknown):
            needs = needs | v.needs
        elif isinstance(v, (dict, list)):
            needs = needs | merge_needs(_all_unknowns(v))
    return Unknown(needs or frozenset([(INVALID, "an invalid value")]), key, **kw)


def _all_unknowns(value: Any) -> list[Unknown]:
    out, stack = [], [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Unknown):
            out.append(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return out


def key_of(value: Any) -> str | None:
    """A symbolic identity for a (possibly unknown) value; None when it has none."""
    if isinstance(value, Unknown):
        return value.key
    if isinstance(value, str):
        return "s:" + value
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return "v:" + repr(value)
    u = find_unknown(value)
    if u is None and text_size(value, MAX_KEY) <= MAX_KEY:  # a longer key would be dropped
        import json
        try:
            return "j:" + json.dumps(value, sort_keys=True)
        except (TypeError, ValueError):
            return None
    return None


def text_size(value: Any, limit: int) -> int:
    """An upper bound on the length of `json.dumps(value)` (escapes and non-ASCII characters
    at their longest), counted to just over `limit`: what turning a value into text would
    allocate, known before allocating it. Unknowns count as their known parts."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str):
            total += 2 + len(v) * (2 if v.isascii() else 12)  # `\"` or `\ud83d\ude00` for one character
        elif isinstance(v, bool) or v is None:
            total += 5
        elif isinstance(v, int):
            total += 2 + v.bit_length() // 3  # digits: log10(2) < 1/3
        elif isinstance(v, float):
            total += 24
        elif isinstance(v, dict):
            total += 2 + 2 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            total += 2 + len(v)
            stack.extend(v)
        elif isinstance(v, Unknown):
            total += 2
            if v.parts is not None:
                stack.extend(p for p in v.parts if p is not v)
        else:
            total += len(repr(type(v)))
    return total


def normalise_parts(parts: Iterable[Any]) -> tuple:
    """Join adjacent known strings; flatten nested part lists; drop empty strings."""
    out: list[Any] = []
    for p in parts:
        if isinstance(p, Unknown) and p.parts is not None and not (len(p.parts) == 1 and p.parts[0] is p):
            sub = p.parts
        else:
            sub = (p,)
        for q in sub:
            if isinstance(q, str):
                if not q:
                    continue
                if out and isinstance(out[-1], str):
                    out[-1] += q
                    continue
            out.append(q)
    return tuple(out)


def string_parts(value: Any) -> tuple | None:
    """A (possibly unknown) string as parts; None when it is not string-like."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, Unknown):
        return value.parts if value.parts is not None else (value,)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (str(value),)
    return None


def same_text(a: Any, b: Any, ignore_case: bool = True) -> bool | None:
    """Whether two (possibly unknown) strings are equal: True, False, or None (cannot tell)."""
    pa, pb = string_parts(a), string_parts(b)
    if pa is None or pb is None:
        return None
    norm = (lambda s: s.lower()) if ignore_case else (lambda s: s)
    pa = tuple(norm(p) if isinstance(p, str) else p for p in pa)
    pb = tuple(norm(p) if isinstance(p, str) else p for p in pb)
    if all(isinstance(p, str) for p in pa) and all(isinstance(p, str) for p in pb):
        return "".join(pa) == "".join(pb)
    if len(pa) == len(pb) and all(
            (isinstance(x, str) and isinstance(y, str) and x == y)
            or (isinstance(x, Unknown) and isinstance(y, Unknown) and x.key is not None and x.key == y.key)
            for x, y in zip(pa, pb)):
        return True
    # Different known prefixes or suffixes decide it; anything else is open.
    head_a = pa[0] if pa and isinstance(pa[0], str) else ""
    head_b = pb[0] if pb and isinstance(pb[0], str) else ""
    if not (head_a.startswith(head_b) or head_b.startswith(head_a)):
        return False
    tail_a = pa[-1] if pa and isinstance(pa[-1], str) else ""
    tail_b = pb[-1] if pb and isinstance(pb[-1], str) else ""
    if not (tail_a.endswith(tail_b) or tail_b.endswith(tail_a)):
        return False
    return None


def split_last(value: Any, sep: str = "/") -> tuple[Any, Any] | None:
    """Split a (possibly unknown) string at its last `sep` when that separator is in known text:
    `format('{0}/add', parameters('kv'))` -> (parameters('kv'), 'add')."""
    parts = string_parts(value)
    if parts is None:
        return None
    for i in range(len(parts) - 1, -1, -1):
        p = parts[i]
        if isinstance(p, str) and sep in p:
            cut = p.rindex(sep)
            head = normalise_parts(parts[:i] + (p[:cut],))
            tail = normalise_parts((p[cut + 1:],) + parts[i + 1:])
            return _from_parts(head, value), _from_parts(tail, value)
    return None


def _from_parts(parts: tuple, origin: Any) -> Any:
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)
    if len(parts) == 1:
        return parts[0]
    return Unknown(merge_needs(parts), "p:" + "|".join(key_of(p) or "?" for p in parts)
                   if all(key_of(p) for p in parts) else None, parts)


def describe(value: Any, limit: int = 120) -> str:
    """Short human rendering of a (possibly unknown) value for messages."""
    if isinstance(value, ResourceRef):
        names = "/".join(describe(n, 60) for n in value.names)
        return f"resourceId('{value.type}', {names})" if isinstance(value.type, str) else "resourceId(…)"
    if isinstance(value, RuntimeValue):
        text = f"{value.function}({describe(value.target, 80)})" + "".join(f".{p}" for p in value.path)
    elif isinstance(value, Unknown):
        if value.parts is not None and not (len(value.parts) == 1 and value.parts[0] is value):
            text = "".join(p if isinstance(p, str) else "{" + _atom_text(p) + "}" for p in value.parts)
        else:
            text = _atom_text(value)
    elif isinstance(value, str):
        text = value
    else:
        import json
        try:
            text = json.dumps(value, default=lambda v: "<unknown>")
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _atom_text(u: Unknown) -> str:
    if u.key and not u.key.startswith(("rt:", "id:", "p:", "s:", "v:", "j:", "sym:")) and ":" not in u.key[:40]:
        return u.key
    kinds = sorted(u.needs, key=lambda n: _ORDER.get(n[0], 99))
    return kinds[0][1] if kinds else "unknown"


def explain(needs: Iterable[tuple[str, str]], limit: int = 4) -> str:
    """What is unknown and how to supply it, most actionable first."""
    items = sorted(set(needs), key=lambda n: (_ORDER.get(n[0], 99), n[1]))
    if not items:
        return "the value cannot be determined offline"
    texts = []
    for kind, what in items[:limit]:
        if kind == PARAMETER:
            texts.append(f"parameter '{what}' has no value (supply it with `--param {what}=VALUE` or a parameter file)")
        elif kind == SECRET:
            texts.append(f"parameter '{what}' is a Key Vault secret reference")
        elif kind == PLACEHOLDER:
            texts.append(what)  # what replaces it, and when: the producer says
        elif kind == CONTEXT:
            texts.append(f"{what} is known only at deployment")
        elif kind == RUNTIME:
            texts.append(f"`{what}` is read from Azure at deployment (`--live` can read it)")
        elif kind == OPAQUE:
            texts.append(f"`{what}` is computed by Azure at deployment")
        elif kind == LINK:
            texts.append(f"{what} is not available locally")
        elif kind == UNSUPPORTED:
            texts.append(f"`{what}` is not evaluated offline")
        elif kind == LIMIT:
            texts.append(what)
        else:
            texts.append(what)
    more = len(items) - limit
    return "; ".join(texts) + (f"; and {more} more" if more > 0 else "")


def type_name(value: Any) -> str:
    if isinstance(value, Unknown):
        return "unknown"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    return type(value).__name__


def equal3(a: Any, b: Any) -> bool | None:
    """ARM `equals` semantics with unknowns: True, False, or None (cannot tell)."""
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        if isinstance(a, Unknown) and isinstance(b, Unknown) and a.key is not None and a.key == b.key:
            return True
        if isinstance(a, (str, Unknown)) and isinstance(b, (str, Unknown)):
            same = same_text(a, b, ignore_case=False)
            return False if same is False else (True if same else None)
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        if len(a) != len(b):
            return False
        result: bool | None = True
        for x, y in zip(a, b):
            r = equal3(x, y)
            if r is False:
                return False
            if r is None:
                result = None
        return result
    if isinstance(a, dict):
        if {k.lower() for k in a} != {k.lower() for k in b}:
            return False
        lb = {k.lower(): v for k, v in b.items()}
        result = True
        for k, v in a.items():
            r = equal3(v, lb[k.lower()])
            if r is False:
                return False
            if r is None:
                result = None
        return result
    return a == b


def value_size(value: Any, known: dict[int, tuple[Any, int]], limit: int) -> tuple[int, int]:
    """(size, work): the nodes of `value` as a walk over it meets them (a part shared by
    reference counted each time it occurs, a string as one node per 64 characters, an object's
    keys as strings, an unknown string by its parts), counted up to just over `limit`. `work`,
    the items looked at, grows with the distinct containers only; `known` gives sizes measured
    before. A value that contains itself is over the limit."""
    if not isinstance(value, (dict, list)):
        return leaf_size(value), 0
    if id(value) in known:
        return known[id(value)][1], 0
    # Most values measured are a function's arguments: a new list of leaves and of values
    # measured before. Its items are summed here, as the walk below would sum them.
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    total = 1
    for c in items:
        if isinstance(c, str):  # `leaf_size`, written out for the commonest leaf
            total += 1 + len(c) // 64
        elif isinstance(c, (dict, list)):
            measured = known.get(id(c))
            if measured is None:
                break
            total += measured[1]
        else:
            total += leaf_size(c)
    else:
        return total, 2 * len(items)
    sizes: dict[int, int] = {}
    expanded: set[int] = set()  # containers whose items are being measured: the current path
    stack = [value]
    work = 0
    while stack:
        v = stack[-1]
        key = id(v)
        if key in sizes:
            stack.pop()
            continue
        items = [*v.keys(), *v.values()] if isinstance(v, dict) else v
        if key not in expanded:
            expanded.add(key)
            pending = []
            for c in items:
                if isinstance(c, (dict, list)):
                    ckey = id(c)
                    if ckey in expanded:
                        return limit + 1, work
                    if ckey not in sizes and ckey not in known:
                        pending.append(c)
            work += len(items)
            if pending:
                stack.extend(pending)
                continue
        stack.pop()
        expanded.discard(key)
        total = 1
        for c in items:
            if isinstance(c, str):
                total += 1 + len(c) // 64
            elif isinstance(c, (dict, list)):
                ckey = id(c)
                total += sizes[ckey] if ckey in sizes else known[ckey][1]
            else:
                total += leaf_size(c)
        work += len(items)
        if total > limit:
            return total, work
        sizes[key] = total
    return sizes[id(value)], work


def leaf_size(value: Any) -> int:
    """The size of a value that is not a container (see `value_size`)."""
    if isinstance(value, str):
        return 1 + len(value) // 64
    if isinstance(value, Unknown) and value.parts is not None:  # atoms: strings and plain Unknowns
        return 1 + sum(1 + len(p) // 64 if isinstance(p, str) else 1 for p in value.parts)
    return 1
