"""Template functions that need no scope: strings, numbers, logic, collections, lambdas.

Each function is registered with a mode:
- `strict`: arguments are evaluated first; any Unknown argument makes the result Unknown
  (with a symbolic key when the function is deterministic, so `uniqueString(x)` twice is the
  same unknown value);
- `tolerant`: receives Unknown arguments and keeps what it can (`concat` builds string parts,
  `length` of a list of unknown elements is known, `union` keeps "non-empty");
- `lazy`: receives the argument trees and evaluates only what it needs (`and`, `or`,
  `coalesce`, lambdas).
Functions raise `FunctionError` for what ARM rejects; the evaluator turns it into Unknown.
Scope-aware functions (`parameters`, `resourceId`, `reference`, `if`, ...) live in the evaluator.
"""
from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..loaders import parse_int
from .values import (LIMIT, MAX_STRING, MAX_VALUE_SIZE, UNSUPPORTED, Unknown, equal3, find_unknown, key_of,
                     merge_needs, normalise_parts, string_parts, text_size, type_name, unknown_from)

MAX_RANGE = 10_000
MAX_COMPARISONS = 2_000_000  # element comparisons of one union() or intersection()
MAX_INT = 2**63 - 1  # ARM's integers are 64-bit


class FunctionError(Exception):
    pass


class OverLimit(Exception):
    """What a function would build is over a bound of the evaluator: an Unknown(LIMIT). Raised
    from the arguments' sizes, before anything is allocated."""


class OpaqueResult(Exception):
    """Raised by functions whose result Azure computes (uniqueString, guid): an Unknown."""


@dataclass(frozen=True)
class Spec:
    impl: Callable[..., Any]
    mode: str  # strict | tolerant | lazy
    min_args: int
    max_args: int
    deterministic: bool = True


FUNCTIONS: dict[str, Spec] = {}


def fn(*names: str, mode: str = "strict", min_args: int = 0, max_args: int = 99, deterministic: bool = True):
    def register(impl: Callable[..., Any]):
        for name in names:
            FUNCTIONS[name.lower()] = Spec(impl, mode, min_args, max_args, deterministic)
        return impl
    return register


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise FunctionError(message)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _str(v: Any) -> str:
    _need(isinstance(v, str), f"expected a string, got {type_name(v)}")
    return v


def _int(v: Any) -> int:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    _need(_is_int(v), f"expected an integer, got {type_name(v)}")
    return v


def _reserve(length: int, what: str = "a string") -> None:
    """Refuse, before building it, a string of `length` characters over MAX_STRING."""
    if length > MAX_STRING:
        raise OverLimit(f"{what} of {length:,} characters is over preflight's limit of {MAX_STRING:,}")


def _reserve_items(count: int, what: str) -> None:
    """Refuse, before building it, an array or object of `count` items over MAX_VALUE_SIZE."""
    if count > MAX_VALUE_SIZE:
        raise OverLimit(f"{what} of {count:,} items is over preflight's limit of {MAX_VALUE_SIZE:,}")


def _known_length(parts: Any) -> int:
    """Characters of the known text among string parts (an Unknown's parts included)."""
    total = 0
    for p in parts:
        if isinstance(p, str):
            total += len(p)
        elif isinstance(p, Unknown) and p.parts is not None:
            total += sum(len(q) for q in p.parts if isinstance(q, str))
    return total


def _integer(value: int) -> int:
    """An arithmetic result, refused outside ARM's 64-bit range (squaring in a `reduce()` would
    otherwise double the digits each step)."""
    if not -MAX_INT - 1 <= value <= MAX_INT:
        raise OverLimit("the result is outside the 64-bit integer range")
    return value


def _unknown_string(parts: list[Any]) -> Any:
    """A string from parts; Unknown with the parts kept when some are unknown."""
    _reserve(_known_length(parts))
    parts_t = normalise_parts(parts)
    if all(isinstance(p, str) for p in parts_t):
        return "".join(parts_t)
    keys = [key_of(p) for p in parts_t]
    key = "p:" + "|".join(keys) if all(keys) else None  # type: ignore[arg-type]
    return Unknown(merge_needs(parts_t), key, parts_t)


def _text_of(v: Any) -> Any:
    """A value as it appears inside a concatenated string."""
    if isinstance(v, str) or isinstance(v, Unknown):
        return v
    if isinstance(v, bool):
        return "True" if v else "False"
    if _is_int(v) or isinstance(v, float):
        return str(v)
    raise FunctionError(f"cannot concatenate a {type_name(v)} into a string")


# --------------------------------------------------------------------------------- strings

@fn("concat", mode="tolerant")
def concat(*args: Any) -> Any:
    if not args:
        return ""
    if any(isinstance(a, list) for a in args):
        if any(not isinstance(a, (list, Unknown)) and a is not None for a in args):
            raise FunctionError("concat() mixes arrays and other values")
        unknowns = [a for a in args if isinstance(a, Unknown)]
        if unknowns:
            nonempty = any(isinstance(a, list) and a for a in args) or any(u.nonempty for u in unknowns)
            return unknown_from(unknowns, nonempty=True if nonempty else None)
        out: list[Any] = []
        for a in args:
            if a is not None:
                out.extend(a)
        return out
    if all(isinstance(a, Unknown) for a in args) and any(a.nonempty for a in args):
        return unknown_from(args, nonempty=True)  # arrays, most likely
    return _unknown_string([_text_of(a) for a in args])


_FORMAT_ITEM = re.compile(r"\{\{|\}\}|\{(\d+)(?:,(-?\d+))?(?::([^}]*))?\}|[{}]")


@fn("format", mode="tolerant", min_args=1)
def format_(fmt: Any, *args: Any) -> Any:
    if isinstance(fmt, Unknown):
        return unknown_from([fmt, *args])
    _str(fmt)
    parts: list[Any] = []
    pos = 0
    length = 0  # characters built so far: every item is refused before it is built past the limit
    for start, end, tok, index, width, spec in _format_items(fmt):
        parts.append(fmt[pos:start])
        length += start - pos
        pos = end
        if tok in ("{{", "}}"):
            parts.append(tok[0])
            continue
        if index is None:
            raise FunctionError(f"invalid format string {fmt!r}")
        i = _count(index, "format item")
        _need(i < len(args), f"format item {{{i}}} has no argument")
        value = args[i]
        if spec:
            if isinstance(value, Unknown):
                parts.append(unknown_from([value]))
                continue
            value = _format_spec(value, spec, length)
        if isinstance(value, (dict, list)):
            _reserve(length + text_size(value, MAX_STRING), "format()")
            text: Any = json.dumps(value, separators=(",", ":"))
        else:
            text = _text_of(value)
        if width and isinstance(text, str):
            size = _count(width.lstrip("-"), "format() width")
            _reserve(length + size, "format()")
            text = text.ljust(size) if width.startswith("-") else text.rjust(size)
        length += len(text) if isinstance(text, str) else _known_length([text])
        _reserve(length, "format()")
        parts.append(text)
    parts.append(fmt[pos:])
    return _unknown_string(parts)


_FormatItem = tuple[int, int, str, Any, Any, Any]  # the groups are None where absent


def _format_items(fmt: str) -> Iterable[_FormatItem]:
    """The items of a format string (start, end, text, index, width, spec), each read by the
    regular expression once per format string: templates format with a few literal strings, many
    times over. A long one is read as it is used, not kept."""
    if len(fmt) > 200:
        return ((m.start(), m.end(), m.group(), m.group(1), m.group(2), m.group(3)) for m in _FORMAT_ITEM.finditer(fmt))
    items = _FORMAT_CACHE.get(fmt)
    if items is None:
        if len(_FORMAT_CACHE) >= 4096:
            _FORMAT_CACHE.clear()
        items = _FORMAT_CACHE[fmt] = tuple((m.start(), m.end(), m.group(), m.group(1), m.group(2), m.group(3))
                                           for m in _FORMAT_ITEM.finditer(fmt))
    return items


_FORMAT_CACHE: dict[str, tuple[_FormatItem, ...]] = {}


def _count(digits: str, what: str) -> int:
    """A count written in a format string, refused over MAX_STRING before it is converted."""
    if len(digits) > len(str(MAX_STRING)):
        raise OverLimit(f"{what} {digits[:12]}… is over preflight's limit of {MAX_STRING:,}")
    return int(digits)


def _format_spec(value: Any, spec: str, length: int) -> str:
    """`{0:D5}`, `{0:X}`, `{0:N2}`, built only when the digits asked for fit after the `length`
    characters a format() has built so far."""
    m = re.fullmatch(r"([DdXxNn])(\d*)", spec)
    if m and _is_int(value):
        kind, digits = m.group(1).upper(), m.group(2)
        wanted = _count(digits, f"format specifier {kind}") if digits else (2 if kind == "N" else 0)
        # the digits asked for, plus the number's own (with separators: fewer than its bits)
        _reserve(length + wanted + 2 + value.bit_length(), "format()")
        if kind == "D":
            return str(value).zfill(wanted) if value >= 0 else "-" + str(-value).zfill(wanted)
        if kind == "X":
            out = format(value, "x").zfill(wanted)
            return out.upper() if m.group(1) == "X" else out
        if kind == "N":
            return f"{value:,.{wanted}f}"
    raise FunctionError(f"format specifier {spec!r} is not evaluated offline")


def _map_parts(value: Any, transform: Callable[[str], str], name: str) -> Any:
    parts = string_parts(value)
    if parts is None:
        raise FunctionError(f"{name}() expects a string")
    # str.upper() and str.lower() make at most 3 characters of one ('ß' -> 'SS', 'ΐ' -> 3)
    _reserve(sum(len(p) * (1 if p.isascii() else 3) for p in parts if isinstance(p, str)), f"{name}()")
    out: list[Any] = []
    for p in parts:
        if isinstance(p, str):
            out.append(transform(p))
        else:
            out.append(Unknown(p.needs, f"{name}({p.key})" if p.key else None))
    return _unknown_string(out)


@fn("toLower", mode="tolerant", min_args=1, max_args=1)
def to_lower(v: Any) -> Any:
    return _map_parts(v, str.lower, "tolower")


@fn("toUpper", mode="tolerant", min_args=1, max_args=1)
def to_upper(v: Any) -> Any:
    return _map_parts(v, str.upper, "toupper")


@fn("replace", min_args=3, max_args=3)
def replace(s: Any, old: Any, new: Any) -> Any:
    _str(s), _str(old), _str(new)
    _need(old != "", "replace() with an empty string to find")
    _reserve(len(s) + s.count(old) * (len(new) - len(old)), "replace()")
    return s.replace(old, new)


@fn("substring", min_args=2, max_args=3)
def substring(s: Any, start: Any, length: Any = None) -> Any:
    _str(s)
    start = _int(start)
    _need(0 <= start <= len(s), f"substring() start {start} is outside the string")
    if length is None:
        return s[start:]
    length = _int(length)
    _need(length >= 0 and start + length <= len(s), "substring() length goes past the end of the string")
    return s[start:start + length]


@fn("split", min_args=2, max_args=2)
def split(s: Any, delimiters: Any) -> Any:
    _str(s)
    delims = [delimiters] if isinstance(delimiters, str) else delimiters
    _need(isinstance(delims, list) and all(isinstance(d, str) and d for d in delims), "split() needs string delimiters")
    _reserve_items(1 + sum(s.count(d) for d in delims), "split()")
    if len(delims) == 1:
        return s.split(delims[0])
    return re.split("|".join(re.escape(d) for d in delims), s)


@fn("trim", min_args=1, max_args=1)
def trim(s: Any) -> Any:
    return _str(s).strip()


@fn("string", min_args=1, max_args=1)
def string(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "True" if v else "False"
    if _is_int(v) or isinstance(v, float):
        return str(v)
    if isinstance(v, (list, dict)):
        if find_unknown(v) is not None:
            return unknown_from([v])
        _reserve(text_size(v, MAX_STRING), "string()")
        return json.dumps(v, separators=(",", ":"))
    raise FunctionError(f"string() of {type_name(v)} is not evaluated offline")


@fn("startsWith", min_args=2, max_args=2)
def starts_with(s: Any, prefix: Any) -> Any:
    return _str(s).lower().startswith(_str(prefix).lower())


@fn("endsWith", min_args=2, max_args=2)
def ends_with(s: Any, suffix: Any) -> Any:
    return _str(s).lower().endswith(_str(suffix).lower())


@fn("indexOf", min_args=2, max_args=2)
def index_of(container: Any, item: Any) -> Any:
    if isinstance(container, list):
        return _array_index(container, item, reverse=False)
    return _str(container).lower().find(_str(item).lower())


@fn("lastIndexOf", min_args=2, max_args=2)
def last_index_of(container: Any, item: Any) -> Any:
    if isinstance(container, list):
        return _array_index(container, item, reverse=True)
    return _str(container).lower().rfind(_str(item).lower())


def _array_index(items: list, item: Any, reverse: bool) -> Any:
    order = range(len(items) - 1, -1, -1) if reverse else range(len(items))
    for i in order:
        same = equal3(items[i], item)
        if same is None:
            return unknown_from([items[i], item])
        if same:
            return i
    return -1


@fn("padLeft", min_args=2, max_args=3)
def pad_left(value: Any, total: Any, pad: Any = " ") -> Any:
    text = str(value) if _is_int(value) else _str(value)
    total = _int(total)
    _need(isinstance(pad, str) and len(pad) == 1, "padLeft() needs a single padding character")
    _need(total <= 16 * 1024, "padLeft() length is too large")
    return text.rjust(total, pad)


@fn("base64", min_args=1, max_args=1)
def base64_(s: Any) -> Any:
    _reserve(len(_str(s)) * (4 if s.isascii() else 16) // 3 + 4, "base64()")  # UTF-8: up to 4 bytes a character
    import base64 as _b64
    return _b64.b64encode(s.encode("utf-8")).decode("ascii")


@fn("base64ToString", min_args=1, max_args=1)
def base64_to_string(s: Any) -> Any:
    import base64 as _b64
    try:
        return _b64.b64decode(_str(s)).decode("utf-8")
    except ValueError as exc:
        raise FunctionError(f"base64ToString(): {exc}") from None


@fn("base64ToJson", min_args=1, max_args=1)
def base64_to_json(s: Any) -> Any:
    return json_(base64_to_string(s))


@fn("uriComponent", min_args=1, max_args=1)
def uri_component(s: Any) -> Any:
    _reserve(len(_str(s)) * (3 if s.isascii() else 12), "uriComponent()")  # %XX for each UTF-8 byte
    return urllib.parse.quote(s, safe="-_.!~*'()")


@fn("uriComponentToString", min_args=1, max_args=1)
def uri_component_to_string(s: Any) -> Any:
    return urllib.parse.unquote(_str(s))


@fn("uri", min_args=2, max_args=2)
def uri(base: Any, relative: Any) -> Any:
    _reserve(len(_str(base)) + len(_str(relative)), "uri()")
    return urllib.parse.urljoin(base, relative)


@fn("dataUri", min_args=1, max_args=1)
def data_uri(s: Any) -> Any:
    return "data:text/plain;charset=utf8;base64," + base64_(s)


@fn("dataUriToString", min_args=1, max_args=1)
def data_uri_to_string(s: Any) -> Any:
    _str(s)
    head, sep, body = s.partition(",")
    _need(bool(sep) and head.startswith("data:"), "dataUriToString() needs a data URI")
    if head.endswith(";base64"):
        return base64_to_string(body)
    return urllib.parse.unquote(body)


@fn("guid", "uniqueString", mode="tolerant", min_args=1)
def opaque_hash(*args: Any) -> Any:
    # Deterministic, but a hash Azure computes: never guessed, even from known inputs. The
    # evaluator keys the Unknown by the arguments, so the same call twice compares equal.
    for a in args:
        if not isinstance(a, Unknown):
            _str(a)
    raise OpaqueResult()


@fn("newGuid", "utcNow", max_args=1, deterministic=False)
def opaque_now(*args: Any) -> Any:
    raise OpaqueResult()


@fn("dateTimeAdd", "dateTimeFromEpoch", "dateTimeToEpoch", min_args=1, max_args=3)
def date_time(*args: Any) -> Any:
    raise OpaqueResult()


@fn("json", mode="tolerant", min_args=1, max_args=1)
def json_(s: Any) -> Any:
    if isinstance(s, Unknown):
        return unknown_from([s])
    _reserve(len(_str(s)), "json() of a text")  # a text of n characters holds at most n/2 values
    try:
        return json.loads(s, parse_int=parse_int)
    except ValueError:
        try:
            from ..loaders import load_json
            return load_json(s)
        except Exception:  # noqa: BLE001 - any parse failure is the template's error
            raise FunctionError(f"json() of invalid JSON text {s[:40]!r}") from None


# --------------------------------------------------------------------------------- numbers

@fn("add", min_args=2, max_args=2)
def add(a: Any, b: Any) -> Any:
    return _integer(_int(a) + _int(b))


@fn("sub", min_args=2, max_args=2)
def sub(a: Any, b: Any) -> Any:
    return _integer(_int(a) - _int(b))


@fn("mul", min_args=2, max_args=2)
def mul(a: Any, b: Any) -> Any:
    return _integer(_int(a) * _int(b))


@fn("div", min_args=2, max_args=2)
def div(a: Any, b: Any) -> Any:
    a, b = _int(a), _int(b)
    _need(b != 0, "div() by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q  # .NET integer division truncates toward zero


@fn("mod", min_args=2, max_args=2)
def mod(a: Any, b: Any) -> Any:
    a, b = _int(a), _int(b)
    _need(b != 0, "mod() by zero")
    return a - b * div(a, b)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def impl(*args: Any) -> Any:
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
        if any(isinstance(v, Unknown) for v in values):
            return unknown_from(values)
        _need(bool(values), "min()/max() of an empty array")
        return pick(_int(v) for v in values)
    return impl


FUNCTIONS["min"] = Spec(_extreme(min), "strict", 1, 99)
FUNCTIONS["max"] = Spec(_extreme(max), "strict", 1, 99)


@fn("int", min_args=1, max_args=1)
def int_(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return _integer(int(v.strip()))
        except ValueError:
            raise FunctionError(f"int() of {v!r}") from None
    if isinstance(v, float):
        return int(v)
    return _int(v)


@fn("float", min_args=1, max_args=1)
def float_(v: Any) -> Any:
    if isinstance(v, (str, int, float)) and not isinstance(v, bool):
        try:
            return float(v)
        except ValueError:
            raise FunctionError(f"float() of {v!r}") from None
    raise FunctionError(f"float() of a {type_name(v)}")


@fn("range", min_args=2, max_args=2)
def range_(start: Any, count: Any) -> Any:
    start, count = _int(start), _int(count)
    _need(count >= 0, "range() count is negative")
    if count > MAX_RANGE:
        return Unknown.because(LIMIT, f"range() of {count} elements is over preflight's limit of {MAX_RANGE}")
    return list(range(start, start + count))


# ----------------------------------------------------------------------------------- logic

@fn("true", max_args=0)
def true_() -> Any:
    return True


@fn("false", max_args=0)
def false_() -> Any:
    return False


@fn("null", max_args=0)
def null_() -> Any:
    return None


def _bool(v: Any) -> bool:
    _need(isinstance(v, bool), f"expected a bool, got {type_name(v)}")
    return v


@fn("not", min_args=1, max_args=1)
def not_(v: Any) -> Any:
    return not _bool(v)


def _logic(decisive: bool) -> Callable[..., Any]:
    def impl(args, scope, evaluate_node) -> Any:
        _need(len(args) >= 2, "and()/or() take at least 2 arguments")
        unknowns = []
        for a in args:
            v = evaluate_node(a, scope)
            if isinstance(v, Unknown):
                unknowns.append(v)
                continue
            if _bool(v) is decisive:
                return decisive  # short-circuits even past unknown operands
        if unknowns:
            return unknown_from(unknowns)
        return not decisive
    return impl


FUNCTIONS["and"] = Spec(_logic(False), "lazy", 2, 99)
FUNCTIONS["or"] = Spec(_logic(True), "lazy", 2, 99)


def _coalesce(args, scope, evaluate_node) -> Any:
    unknowns = []
    for a in args:
        v = evaluate_node(a, scope)
        if isinstance(v, Unknown):
            unknowns.append(v)
            continue
        if v is not None:
            return unknown_from(unknowns) if unknowns else v
    return unknown_from(unknowns) if unknowns else None


FUNCTIONS["coalesce"] = Spec(_coalesce, "lazy", 1, 99)


@fn("equals", mode="tolerant", min_args=2, max_args=2)
def equals(a: Any, b: Any) -> Any:
    result = equal3(a, b)
    return unknown_from([a, b]) if result is None else result


def _compare(op: Callable[[Any, Any], bool]) -> Callable[..., Any]:
    def impl(a: Any, b: Any) -> Any:
        if _is_int(a) or isinstance(a, float):
            _need((_is_int(b) or isinstance(b, float)), "comparison of a number with another type")
            return op(a, b)
        _need(isinstance(a, str) and isinstance(b, str), "comparison needs numbers or strings")
        return op(a, b)
    return impl


FUNCTIONS["greater"] = Spec(_compare(lambda a, b: a > b), "strict", 2, 2)
FUNCTIONS["greaterorequals"] = Spec(_compare(lambda a, b: a >= b), "strict", 2, 2)
FUNCTIONS["less"] = Spec(_compare(lambda a, b: a < b), "strict", 2, 2)
FUNCTIONS["lessorequals"] = Spec(_compare(lambda a, b: a <= b), "strict", 2, 2)


@fn("bool", min_args=1, max_args=1)
def bool_(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    if _is_int(v):
        return v != 0
    raise FunctionError(f"bool() of {v!r}")


@fn("fail", min_args=1, max_args=1)
def fail(message: Any) -> Any:
    raise FunctionError(f"fail({message!r})")


# ----------------------------------------------------------------------------- collections

@fn("empty", mode="tolerant", min_args=1, max_args=1)
def empty(v: Any) -> Any:
    if isinstance(v, Unknown):
        return False if v.nonempty else unknown_from([v])
    if v is None:
        return True
    if isinstance(v, (str, list, dict)):
        return len(v) == 0
    raise FunctionError(f"empty() of a {type_name(v)}")


@fn("length", mode="tolerant", min_args=1, max_args=1)
def length(v: Any) -> Any:
    if isinstance(v, Unknown):
        return unknown_from([v], f"length({v.key})" if v.key else None)
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise FunctionError(f"length() of a {type_name(v)}")


@fn("contains", mode="tolerant", min_args=2, max_args=2)
def contains(container: Any, item: Any) -> Any:
    if isinstance(container, Unknown):
        return unknown_from([container, item])
    if isinstance(container, dict):
        if isinstance(item, Unknown):
            return unknown_from([item])
        _need(isinstance(item, str), "contains() on an object needs a string key")
        return any(isinstance(k, str) and k.lower() == item.lower() for k in container)
    if isinstance(container, list):
        undecided = False
        for x in container:
            same = equal3(x, item)
            if same:
                return True
            if same is None:
                undecided = True
        return unknown_from([item, *container]) if undecided else False
    if isinstance(container, str):
        if isinstance(item, Unknown):
            return unknown_from([item])
        return (str(item) if _is_int(item) else _str(item)) in container
    raise FunctionError(f"contains() on a {type_name(container)}")


@fn("createArray", mode="tolerant")
def create_array(*items: Any) -> Any:
    return list(items)


@fn("createObject", mode="tolerant")
def create_object(*args: Any) -> Any:
    _need(len(args) % 2 == 0, "createObject() needs key/value pairs")
    out: dict[str, Any] = {}
    for k, v in zip(args[::2], args[1::2]):
        if isinstance(k, Unknown):
            return unknown_from([k])
        _need(isinstance(k, str), "createObject() keys must be strings")
        out[k] = v
    return out


@fn("array", mode="tolerant", min_args=1, max_args=1)
def array(v: Any) -> Any:
    if isinstance(v, Unknown):
        return Unknown(v.needs, f"array({v.key})" if v.key else None, nonempty=True if v.nonempty else None)
    return v if isinstance(v, list) else [v]


@fn("union", mode="tolerant", min_args=1)
def union(*args: Any) -> Any:
    unknowns = [a for a in args if isinstance(a, Unknown)]
    if any(isinstance(a, dict) for a in args):
        if unknowns:
            return unknown_from(unknowns)
        _need(all(isinstance(a, dict) or a is None for a in args), "union() mixes objects and other values")
        out: dict[str, Any] = {}
        lower: dict[str, str] = {}
        for a in args:
            for k, v in (a or {}).items():
                existing = lower.get(k.lower())
                if existing is not None and isinstance(out[existing], dict) and isinstance(v, dict):
                    # Nested objects: ARM's merge behaviour changed over time; do not guess.
                    out[existing] = Unknown.because(UNSUPPORTED, f"union() of two objects under '{k}'")
                    continue
                if existing is not None:
                    del out[existing]
                out[k] = v
                lower[k.lower()] = k
        return out
    _need(all(isinstance(a, (list, Unknown)) or a is None for a in args), "union() needs arrays or objects")
    if unknowns:
        nonempty = any(isinstance(a, list) and a for a in args) or any(u.nonempty for u in unknowns)
        return unknown_from(unknowns, nonempty=True if nonempty else None)
    count = sum(len(a) for a in args if a)
    if count * count // 2 > MAX_COMPARISONS:  # each item is compared with those kept before it
        return _too_many_comparisons("union", count * count // 2)
    result: list[Any] = []
    for a in args:
        for item in a or []:
            verdicts = [equal3(item, r) for r in result]
            if any(v is True for v in verdicts):
                continue
            if any(v is None for v in verdicts):
                return unknown_from([item], nonempty=True)  # cannot tell duplicates apart
            result.append(item)
    return result


@fn("intersection", min_args=2)
def intersection(*args: Any) -> Any:
    first = args[0]
    if isinstance(first, (dict, list)) and all(isinstance(a, (dict, list)) for a in args[1:]):
        count = len(first) * (len(first) + sum(len(a) for a in args[1:]))
        if count > MAX_COMPARISONS:
            return _too_many_comparisons("intersection", count)
    if isinstance(first, dict):
        _need(all(isinstance(a, dict) for a in args), "intersection() mixes objects and other values")
        out = {}
        for k, v in first.items():
            if all(kk.lower() == k.lower() and equal3(vv, v) is True for a in args[1:] for kk, vv in a.items()
                   if kk.lower() == k.lower()) and all(any(kk.lower() == k.lower() for kk in a) for a in args[1:]):
                out[k] = v
        return out
    _need(all(isinstance(a, list) for a in args), "intersection() needs arrays or objects")
    result: list[Any] = []
    for item in first:
        verdicts = [[equal3(item, x) for x in a] for a in args[1:]]
        if any(all(v is False for v in vs) for vs in verdicts):
            continue
        if all(any(v is True for v in vs) for vs in verdicts):
            if not any(equal3(item, r) is True for r in result):
                result.append(item)
            continue
        return unknown_from([item])
    return result


def _too_many_comparisons(function: str, count: int) -> Unknown:
    return Unknown.because(LIMIT, f"{function}() of {count:,} element comparisons, over preflight's limit of "
                                  f"{MAX_COMPARISONS:,}")


@fn("first", min_args=1, max_args=1)
def first(v: Any) -> Any:
    if isinstance(v, (list, str)):
        return v[0] if v else (None if isinstance(v, list) else "")
    raise FunctionError(f"first() of a {type_name(v)}")


@fn("last", min_args=1, max_args=1)
def last(v: Any) -> Any:
    if isinstance(v, (list, str)):
        return v[-1] if v else (None if isinstance(v, list) else "")
    raise FunctionError(f"last() of a {type_name(v)}")


@fn("take", min_args=2, max_args=2)
def take(v: Any, n: Any) -> Any:
    n = max(0, _int(n))
    _need(isinstance(v, (list, str)), "take() needs an array or a string")
    return v[:n]


@fn("skip", min_args=2, max_args=2)
def skip(v: Any, n: Any) -> Any:
    n = max(0, _int(n))
    _need(isinstance(v, (list, str)), "skip() needs an array or a string")
    return v[n:]


@fn("join", min_args=2, max_args=2)
def join(items: Any, delimiter: Any) -> Any:
    _need(isinstance(items, list), "join() needs an array")
    if find_unknown(items) is not None:
        return unknown_from(items)
    texts = [_text_of(i) for i in items]
    _reserve(sum(len(t) for t in texts) + max(len(texts) - 1, 0) * len(_str(delimiter)), "join()")
    return delimiter.join(texts)


@fn("flatten", min_args=1, max_args=1)
def flatten(items: Any) -> Any:
    _need(isinstance(items, list), "flatten() needs an array of arrays")
    out: list[Any] = []
    for i in items:
        if isinstance(i, Unknown):
            return unknown_from([i])
        _need(isinstance(i, list), "flatten() needs an array of arrays")
        out.extend(i)
    return out


@fn("items", min_args=1, max_args=1)
def items_(obj: Any) -> Any:
    _need(isinstance(obj, dict), "items() needs an object")
    _reserve_items(3 * len(obj), "items()")  # an object of two members for each
    return [{"key": k, "value": v} for k, v in sorted(obj.items(), key=lambda kv: kv[0].lower())]


@fn("objectKeys", min_args=1, max_args=1)
def object_keys(obj: Any) -> Any:
    _need(isinstance(obj, dict), "objectKeys() needs an object")
    return list(obj.keys())


@fn("shallowMerge", min_args=1, max_args=1)
def shallow_merge(objs: Any) -> Any:
    _need(isinstance(objs, list), "shallowMerge() needs an array of objects")
    out: dict[str, Any] = {}
    for o in objs:
        if isinstance(o, Unknown):
            return unknown_from([o])
        _need(isinstance(o, dict), "shallowMerge() needs an array of objects")
        out.update(o)
    return out


@fn("tryGet", mode="tolerant", min_args=2)
def try_get(value: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(value, Unknown) or isinstance(k, Unknown):
            return unknown_from([value, k])
        if value is None:
            return None
        if isinstance(value, dict) and isinstance(k, str):
            found = [v for kk, v in value.items() if kk.lower() == k.lower()]
            value = found[0] if found else None
        elif isinstance(value, list) and _is_int(k):
            value = value[k] if 0 <= k < len(value) else None
        else:
            return None
    return value


@fn("indexFromEnd", "tryIndexFromEnd", min_args=2, max_args=2)
def index_from_end(items: Any, i: Any) -> Any:
    _need(isinstance(items, list), "indexFromEnd() needs an array")
    i = _int(i)
    return items[-i] if 1 <= i <= len(items) else None


# -------------------------------------------------------------------------------- lambdas

@dataclass
class Lambda:
    names: tuple[str, ...]
    body: Any
    scope: Any

    def __call__(self, evaluate_node, *values: Any) -> Any:
        return evaluate_node(self.body, self.scope.with_lambdas(dict(zip(self.names, values))))


def _lambda(args, scope, evaluate_node) -> Any:
    _need(len(args) >= 2, "lambda() needs variable names and a body")
    names = []
    for a in args[:-1]:
        n = evaluate_node(a, scope)
        _need(isinstance(n, str), "lambda() variable names must be strings")
        names.append(n)
    return Lambda(tuple(names), args[-1], scope)


FUNCTIONS["lambda"] = Spec(_lambda, "lazy", 2, 99)


def _with_lambda(kind: str) -> Callable[..., Any]:
    def impl(args, scope, evaluate_node) -> Any:
        values = [evaluate_node(a, scope) for a in args]
        if any(isinstance(v, Unknown) for v in values):
            return unknown_from([v for v in values if isinstance(v, Unknown)])
        fn_ = values[-1] if values else None
        if not isinstance(fn_, Lambda):
            raise FunctionError(f"{kind}() needs a lambda as its last argument")
        items = values[0]
        if kind in ("mapvalues",):
            _need(isinstance(items, dict), f"{kind}() needs an object")
            return {k: fn_(evaluate_node, v) for k, v in items.items()}
        _need(isinstance(items, list), f"{kind}() needs an array")
        if kind == "map":
            return [fn_(evaluate_node, x) if len(fn_.names) == 1 else fn_(evaluate_node, x, i)
                    for i, x in enumerate(items)]
        if kind == "filter":
            out = []
            for i, x in enumerate(items):
                keep = fn_(evaluate_node, x) if len(fn_.names) == 1 else fn_(evaluate_node, x, i)
                if isinstance(keep, Unknown):
                    return unknown_from([keep])
                _need(isinstance(keep, bool), "filter() lambda must return a bool")
                if keep:
                    out.append(x)
            return out
        if kind == "reduce":
            _need(len(values) == 3, "reduce() needs an array, an initial value and a lambda")
            acc = values[1]
            for i, x in enumerate(items):
                acc = fn_(evaluate_node, acc, x) if len(fn_.names) == 2 else fn_(evaluate_node, acc, x, i)
            return acc
        if kind == "toobject":
            _need(len(values) in (2, 3), "toObject() needs an array, a key lambda and an optional value lambda")
            value_fn = values[2] if len(values) == 3 else None
            key_fn = values[1]
            out_obj: dict[str, Any] = {}
            for x in items:
                k = key_fn(evaluate_node, x)
                if isinstance(k, Unknown):
                    return unknown_from([k])
                _need(isinstance(k, str), "toObject() keys must be strings")
                out_obj[k] = value_fn(evaluate_node, x) if isinstance(value_fn, Lambda) else x
            return out_obj
        if kind == "groupby":
            groups: dict[str, list] = {}
            for x in items:
                k = fn_(evaluate_node, x)
                if isinstance(k, Unknown):
                    return unknown_from([k])
                _need(isinstance(k, str), "groupBy() keys must be strings")
                groups.setdefault(k, []).append(x)
            return groups
        if kind == "sort":
            import functools

            def cmp(a: Any, b: Any) -> int:
                r = fn_(evaluate_node, a, b)
                if isinstance(r, Unknown) or not isinstance(r, bool):
                    raise FunctionError("sort() comparison is not a known bool")
                return -1 if r else 1
            return sorted(items, key=functools.cmp_to_key(cmp))
        raise FunctionError(f"{kind}() is not evaluated")
    return impl


for _kind in ("map", "filter", "reduce", "toobject", "sort", "groupby", "mapvalues"):
    FUNCTIONS[_kind] = Spec(_with_lambda(_kind), "lazy", 2, 3)

del _kind
