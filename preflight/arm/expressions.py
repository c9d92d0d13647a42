"""The ARM template expression language: `[...]` strings to syntax trees.

    compile_string("[concat('kv-', parameters('env'))]")
        -> Call('concat', (Literal('kv-'), Call('parameters', (Literal('env'),))))
    compile_string("[[not an expression]")  -> "[not an expression]"   (the `[[` escape)
    compile_string("plain text")            -> "plain text"

A JSON string is an expression when it starts with `[`, ends with `]` and its second character
is not `[` (schema `common/definitions.json#/definitions/expression`); raw newlines and blanks
inside are allowed, as ARM allows them. Grammar:

    expr    := primary ( '.' ident | '[' expr ']' )*
    primary := string | integer | ident '(' [expr (',' expr)*] ')' | ident ('.' ident)+ '(' ... ')'
             | 'true' | 'false' | 'null'

Function names are case-insensitive (kept lower-cased in `Call.name`, as written in
`Call.spelling`). `namespace.name(...)` calls user-defined functions. Nesting is bounded
(`MAX_DEPTH`); a malformed or too deep expression compiles to an `Invalid` node, which
evaluates to Unknown: parsing never raises to callers of `compile_string`.

Trees are plain immutable objects, so another front end (Bicep) can build them directly.
"""
from __future__ import annotations

import re
import sys
from functools import lru_cache
from typing import Any, Union

MAX_DEPTH = 64  # nested calls/accesses; real templates stay far below
MAX_LENGTH = 100_000  # characters in one expression


class Node:
    """Base of expression syntax-tree nodes."""

    __slots__ = ()


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        return f"Literal({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Literal) and type(other.value) is type(self.value) and other.value == self.value

    def __hash__(self) -> int:
        return hash(("lit", repr(self.value)))


class Call(Node):
    __slots__ = ("name", "args", "spelling")

    def __init__(self, name: str, args: tuple[Node, ...], spelling: str | None = None):
        # Function names are few and trees are kept (see _compile_expression): one copy of each.
        self.name = sys.intern(name.lower())
        self.args = tuple(args)
        self.spelling = sys.intern(spelling or name)

    def __repr__(self) -> str:
        return f"Call({self.name!r}, {self.args!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Call) and other.name == self.name and other.args == self.args

    def __hash__(self) -> int:
        return hash(("call", self.name, self.args))


class Member(Node):
    """`target.name` (property access; names compare case-insensitively at evaluation)."""

    __slots__ = ("target", "name")

    def __init__(self, target: Node, name: str):
        self.target = target
        self.name = sys.intern(name)

    def __repr__(self) -> str:
        return f"Member({self.target!r}, {self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Member) and other.name == self.name and other.target == self.target

    def __hash__(self) -> int:
        return hash(("member", self.target, self.name))


class Index(Node):
    """`target[index]`."""

    __slots__ = ("target", "index")

    def __init__(self, target: Node, index: Node):
        self.target = target
        self.index = index

    def __repr__(self) -> str:
        return f"Index({self.target!r}, {self.index!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Index) and other.index == self.index and other.target == self.target

    def __hash__(self) -> int:
        return hash(("index", self.target, self.index))


class Invalid(Node):
    """A string that is an expression by its brackets but does not parse."""

    __slots__ = ("text", "error", "offset")

    def __init__(self, text: str, error: str, offset: int = 0):
        self.text = text
        self.error = error
        self.offset = offset

    def __repr__(self) -> str:
        return f"Invalid({self.text!r}, {self.error!r})"


Compiled = Union[Node, str]


class ExpressionError(Exception):
    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.message = message
        self.offset = offset


EXPRESSION_CACHE = 1024  # entries of the caches by expression text (here and in .references)


def is_expression(text: str) -> bool:
    return len(text) >= 2 and text[0] == "[" and text[-1] == "]" and text[1:2] != "["


def compile_string(text: str) -> Compiled:
    """A template string as ARM reads it: a syntax tree for an expression, else the literal text
    (with the `[[` escape removed)."""
    if not text or text[0] != "[" or text[-1] != "]":
        return text
    if text.startswith("[["):
        return text[1:]
    return _compile_expression(text)


# Templates repeat expressions, within a file and across a repository's files. A worker checks
# thousands of files: a cache of the size a few hundred files fill keeps its memory the same
# whatever the scan's size (measured: 1,024 expressions, plain strings kept out, cost no CPU on the
# corpus or the AVM corpus against 4,096 strings, and ~4 MiB less peak).
@lru_cache(maxsize=EXPRESSION_CACHE)
def _compile_expression(text: str) -> Compiled:
    try:
        return parse(text[1:-1])
    except ExpressionError as exc:
        return Invalid(text, exc.message, exc.offset + 1)


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<str>'(?:[^']|'')*')
      | (?P<num>-?[0-9]+(?:\.[0-9]+)?)
      | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
      | (?P<punct>[(),.\[\]])""",
    re.VERBOSE,
)


def _tokenize(body: str) -> list[tuple[str, Any, int]]:
    if len(body) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    out: list[tuple[str, Any, int]] = []
    pos, end = 0, len(body)
    match = _TOKEN.match
    while pos < end:
        m = match(body, pos)
        if m is None:
            if body[pos] == "'":
                raise ExpressionError("unterminated string literal", pos)
            raise ExpressionError(f"unexpected character {body[pos]!r}", pos)
        kind = m.lastgroup
        if kind == "str":
            out.append(("str", m.group()[1:-1].replace("''", "'"), pos))
        elif kind == "num":
            tok = m.group()
            out.append(("num", float(tok) if "." in tok else int(tok), pos))
        elif kind == "ident":
            out.append(("ident", m.group(), pos))
        elif kind == "punct":
            out.append((m.group(), None, pos))
        pos = m.end()
    out.append(("eof", None, end))
    return out


def parse(body: str) -> Node:
    """Parse the inside of `[...]`. Raises ExpressionError with an offset into `body`."""
    tokens = _tokenize(body)
    parser = _Parser(tokens)
    node = parser.expr(0)
    kind, _, offset = tokens[parser.i]
    if kind != "eof":
        raise ExpressionError(f"unexpected {kind!r} after the expression", offset)
    return node


class _Parser:
    __slots__ = ("tokens", "i")

    def __init__(self, tokens: list[tuple[str, Any, int]]):
        self.tokens = tokens
        self.i = 0

    def take(self, kind: str) -> tuple[str, Any, int]:
        tok = self.tokens[self.i]
        if tok[0] != kind:
            what = "end of expression" if tok[0] == "eof" else repr(tok[1] if tok[1] is not None else tok[0])
            raise ExpressionError(f"expected {kind!r}, found {what}", tok[2])
        self.i += 1
        return tok

    def expr(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels", self.tokens[self.i][2])
        node = self.primary(depth)
        while True:
            kind = self.tokens[self.i][0]
            if kind == ".":
                self.i += 1
                tok = self.tokens[self.i]
                if tok[0] != "ident":
                    raise ExpressionError("expected a property name after '.'", tok[2])
                self.i += 1
                node = Member(node, tok[1])
            elif kind == "[":
                self.i += 1
                index = self.expr(depth + 1)
                self.take("]")
                node = Index(node, index)
            else:
                return node

    def primary(self, depth: int) -> Node:
        kind, value, offset = self.tokens[self.i]
        if kind == "str" or kind == "num":
            self.i += 1
            return Literal(value)
        if kind != "ident":
            what = "end of expression" if kind == "eof" else repr(kind)
            raise ExpressionError(f"expected a value, found {what}", offset)
        self.i += 1
        name = value
        # namespace.function(...) for user-defined functions
        while self.tokens[self.i][0] == "." and self.tokens[self.i + 1][0] == "ident" \
                and self.tokens[self.i + 2][0] in (".", "("):
            name += "." + self.tokens[self.i + 1][1]
            self.i += 2
        if self.tokens[self.i][0] != "(":
            lowered = name.lower()
            if lowered in ("true", "false"):
                return Literal(lowered == "true")
            if lowered == "null":
                return Literal(None)
            raise ExpressionError(f"expected '(' after function name {name!r}", self.tokens[self.i][2])
        self.i += 1
        args: list[Node] = []
        if self.tokens[self.i][0] != ")":
            while True:
                args.append(self.expr(depth + 1))
                if self.tokens[self.i][0] == ",":
                    self.i += 1
                    continue
                break
        self.take(")")
        return Call(name, tuple(args), name)


# ------------------------------------------------------------------------------- rendering

def to_text(node: Any, limit: int = 300) -> str:
    """Expression text for messages (without the outer brackets)."""
    out = _render(node)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _render(node: Any) -> str:
    if isinstance(node, Literal):
        v = node.value
        if isinstance(v, str):
            return "'" + v.replace("'", "''") + "'"
        if v is None:
            return "null()"
        if isinstance(v, bool):
            return "true()" if v else "false()"
        return str(v)
    if isinstance(node, Call):
        return f"{node.spelling}({', '.join(_render(a) for a in node.args)})"
    if isinstance(node, Member):
        return f"{_render(node.target)}.{node.name}"
    if isinstance(node, Index):
        return f"{_render(node.target)}[{_render(node.index)}]"
    if isinstance(node, Invalid):
        return node.text
    return repr(node)


def walk(node: Node):
    """Every node of a tree, depth first (iterative: no recursion limit)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Call):
            stack.extend(reversed(n.args))
        elif isinstance(n, Member):
            stack.append(n.target)
        elif isinstance(n, Index):
            stack.append(n.index)
            stack.append(n.target)


def template_strings(value: Any, pointer: str = "", skip_keys: frozenset[str] = frozenset(),
                     expressions_only: bool = False):
    """(pointer, compiled) for every string in a JSON value, iteratively; keys in `skip_keys`
    (compared case-insensitively) are not entered. With `expressions_only`, only strings that
    are expressions (and trees) are yielded. Pointers are built only for what is yielded."""
    for path, item in template_paths(value, skip_keys, expressions_only):
        yield path_pointer(pointer, path), compile_string(item) if isinstance(item, str) else item


_ENTERED = (dict, list, Node)


def template_paths(value: Any, skip_keys: frozenset[str] = frozenset(), expressions_only: bool = False):
    """What `template_strings` yields, in the same order, before compiling and before building
    pointers: (path, string or tree). `path` is an opaque key path (None for `value` itself);
    `path_pointer(pointer, path)` turns it into the JSON pointer. With `expressions_only`, only
    strings that are expressions (`is_expression`: exactly those `compile_string` turns into a
    Node) and trees. For callers that look at many strings and report few."""
    stack: list[tuple[Any, Any]] = [(value, None)]
    while stack:
        v, path = stack.pop()
        if isinstance(v, str):
            if not expressions_only or is_expression(v):
                yield path, v
        elif isinstance(v, dict):
            # The innermost loop of a template scan: the key is looked at only for a value that
            # would be yielded or entered, and is_expression() is inlined.
            for k, item in v.items():
                if isinstance(item, str):
                    if expressions_only and not (item[:1] == "[" and item[-1:] == "]" and item[1:2] != "["):
                        continue
                    if skip_keys and isinstance(k, str) and k.lower() in skip_keys:
                        continue
                    yield (path, k), item
                elif isinstance(item, _ENTERED):
                    if skip_keys and isinstance(k, str) and k.lower() in skip_keys:
                        continue
                    stack.append((item, (path, k)))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                if isinstance(item, _ENTERED) or (isinstance(item, str) and (
                        not expressions_only or (item[:1] == "[" and item[-1:] == "]"))):
                    stack.append((item, (path, i)))
        elif isinstance(v, Node):
            yield path, v


def path_pointer(pointer: str, path: Any) -> str:
    """The JSON pointer of a `template_paths` path below `pointer`."""
    from ..loaders import join_pointer

    keys = []
    while path is not None:
        path, key = path
        keys.append(key)
    for key in reversed(keys):
        pointer = join_pointer(pointer, key)
    return pointer
