"""Bicep source -> a small syntax tree (`Decl`s holding `X` expression nodes).

Parsing uses tree-sitter with the `tree-sitter-bicep` grammar, imported on first use (only a
scan that meets a `.bicep` file pays for it). Two known weaknesses of that grammar (1.1.0) are
worked around here so that the tree means what the Bicep compiler would read:

- Lexing: after an escape sequence or an interpolation (or at the start of a string), `//`
  inside a string literal is taken for a comment. The text is parsed with every `/` inside
  string literals masked (same length, so every offset is unchanged), and string contents are
  read from the original text.
- Precedence: postfix operators (`.x`, `[i]`, `(...)` on a member) bind looser than binary,
  unary, ternary and lambda expressions (`a || b.c` parses as `(a || b).c`). Postfix operations
  are pushed down into the rightmost operand unless the operand was parenthesised.

A few newer constructs the grammar rejects are masked before parsing (typed variables
`var x string = ...`, `extension` statements, the `?` of a nullable user-defined parameter
type), keeping every offset. Syntax errors that remain are classified: ones that look like
newer Bicep syntax (spread `...`, `[^i]`, resource-typed parameters) are "unsupported
constructs" (the enclosing expression becomes unknown); anything else is a syntax error.
"""
from __future__ import annotations

import bisect
import re
from functools import lru_cache
from typing import Any

# ------------------------------------------------------------------------------ the tree


class X:
    """An expression node. `kind` is one of:
    lit(value) str(parts: [str | X]) ident(name) arr(items) obj(props: [Prop]) call(name, args,
    ns, target) mem(obj, name, safe) idx(obj, index, safe) res(obj, name) un(op, x) bin(op, l, r)
    tern(c, a, b) lam(params, body) for(item, index, iterable, body) if(cond, body) paren(x)
    bad(text, error)."""

    __slots__ = ("kind", "line", "col", "a", "b", "c", "d")

    def __init__(self, kind: str, pos: tuple[int, int], a: Any = None, b: Any = None, c: Any = None,
                 d: Any = None):
        self.kind = kind
        self.line, self.col = pos
        self.a, self.b, self.c, self.d = a, b, c, d

    @property
    def pos(self) -> tuple[int, int]:
        return self.line, self.col

    def __repr__(self) -> str:
        fields = [repr(f) for f in (self.a, self.b, self.c, self.d) if f is not None]
        return f"{self.kind}({', '.join(fields)})"


class Prop:
    """An object property `key: value`; `value` is an X, or a Decl for a nested resource."""

    __slots__ = ("key", "line", "col", "value", "decorators")

    def __init__(self, key: str | None, pos: tuple[int, int], value: Any, decorators: list | None = None):
        self.key = key
        self.line, self.col = pos
        self.value = value
        self.decorators = decorators or []

    @property
    def pos(self) -> tuple[int, int]:
        return self.line, self.col

    def __repr__(self) -> str:
        return f"Prop({self.key!r}: {self.value!r})"


class Decl:
    """A statement: param, var, resource, module, output, func, type, import, targetScope,
    metadata, using, unknown."""

    __slots__ = ("kind", "name", "line", "col", "decorators", "type", "value", "existing", "extra",
                 "name_pos")

    def __init__(self, kind: str, name: str | None, pos: tuple[int, int], value: Any = None,
                 type: Any = None, decorators: list | None = None, existing: bool = False,
                 extra: Any = None, name_pos: tuple[int, int] | None = None):
        self.kind = kind
        self.name = name
        self.line, self.col = pos
        self.value = value
        self.type = type
        self.decorators = decorators or []
        self.existing = existing
        self.extra = extra
        self.name_pos = name_pos or pos

    @property
    def pos(self) -> tuple[int, int]:
        return self.line, self.col

    def __repr__(self) -> str:
        return f"Decl({self.kind} {self.name!r} = {self.value!r})"


class Problem:
    """A syntax error (`fatal`) or a construct the parser does not know (skipped)."""

    __slots__ = ("message", "line", "col", "fatal")

    def __init__(self, message: str, pos: tuple[int, int], fatal: bool):
        self.message = message
        self.line, self.col = pos
        self.fatal = fatal

    def __repr__(self) -> str:
        return f"Problem({self.message!r}, {self.line}:{self.col}, fatal={self.fatal})"


class Parsed:
    def __init__(self, decls: list[Decl], problems: list[Problem], text: str):
        self.decls = decls
        self.problems = problems
        self.text = text

    @property
    def error(self) -> Problem | None:
        """The first syntax error, if any (the file does not compile)."""
        return next((p for p in self.problems if p.fatal), None)

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if not p.fatal]


# ------------------------------------------------------------------------------ tree-sitter

_PARSER: Any = None


def _parser() -> Any:
    global _PARSER
    if _PARSER is None:
        import tree_sitter_bicep
        from tree_sitter import Language, Parser
        _PARSER = Parser(Language(tree_sitter_bicep.language()))
    return _PARSER


class ParserUnavailable(Exception):
    pass


def parse(text: str, bicepparam: bool = False) -> Parsed:
    """Parse Bicep (or .bicepparam) text. Never raises on bad input; raises ParserUnavailable
    when tree-sitter or the grammar is not installed. The result is shared by every parse of
    the same text (a module is also parsed by each file that uses it): nothing changes it."""
    return _parse(text, bicepparam)


@lru_cache(maxsize=16)  # enough for the modules a folder shares; syntax trees are large
def _parse(text: str, bicepparam: bool) -> Parsed:
    try:
        parser = _parser()
    except ImportError as exc:  # pragma: no cover - a broken installation
        raise ParserUnavailable(str(exc)) from None
    masked, params_at, notes = mask(text, bicepparam)
    src = text.encode("utf-8", "surrogatepass")
    tree = parser.parse(masked.encode("utf-8", "surrogatepass"))
    builder = _Builder(src, text, params_at)
    for pos, message, fatal in notes:
        builder.problems.append(Problem(message, pos, fatal))
    builder.collect_problems(tree.root_node)
    decls = builder.statements(tree.root_node)
    builder.problems.sort(key=lambda p: (p.line, p.col))
    return Parsed(decls, builder.problems, text)


# -------------------------------------------------------------------------------- masking

_TYPED_VAR = re.compile(r"(?m)^([ \t]*var[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]+)([A-Za-z_][A-Za-z0-9_.]*(?:\[\])?\??)([ \t]*=)")
_NULLABLE_PARAM = re.compile(
    r"(?m)^([ \t]*param[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]+[A-Za-z_][A-Za-z0-9_.]*(?:\[\])?)\?([ \t]*(?://.*)?)$")
_EXTENSION = re.compile(r"(?m)^[ \t]*(extension|provider)[ \t]+[^\n]*$")
_PARAM_KW = re.compile(r"(?m)^([ \t]*)param(?=[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*=)")


def mask(text: str, bicepparam: bool = False) -> tuple[str, set[int], list[tuple[tuple[int, int], str, bool]]]:
    """The text to hand to tree-sitter: same length and line structure, with `/` masked inside
    string literals and a few newer constructs blanked. Returns (masked, offsets of `param`
    keywords rewritten to `var` in .bicepparam files, (position, message, fatal) notes)."""
    spans, slashes, unterminated = _scan(text)
    starts = [a for a, _ in spans]

    def is_code(i: int) -> bool:
        k = bisect.bisect_right(starts, i) - 1
        return k < 0 or i >= spans[k][1]

    edits: dict[int, str] = {i: "x" for i in slashes}
    notes: list[tuple[tuple[int, int], str, bool]] = []
    for at in unterminated[:1]:  # a single-quoted string cannot span lines: say where it starts
        line = text.count("\n", 0, at) + 1
        notes.append(((line, at - (text.rfind("\n", 0, at) + 1) + 1), "invalid Bicep: unterminated string", True))

    def blank(start: int, end: int) -> None:
        for i in range(start, end):
            if text[i] not in "\r\n":
                edits[i] = " "

    for m in _TYPED_VAR.finditer(text):
        if is_code(m.start(2)):
            blank(m.start(2), m.end(2))
    for m in _NULLABLE_PARAM.finditer(text):
        if is_code(m.end(1)):
            edits[m.end(1)] = " "
    for m in _EXTENSION.finditer(text):
        if is_code(m.start(1)):
            blank(m.start(), m.end())
            line = text.count("\n", 0, m.start()) + 1
            col = m.start(1) - (text.rfind("\n", 0, m.start()) + 1) + 1
            notes.append(((line, col), f"`{m.group(1)}` statement (a Bicep extension) is not evaluated", False))
    params_at: set[int] = set()
    if bicepparam:
        for m in _PARAM_KW.finditer(text):
            at = m.start() + len(m.group(1))
            if is_code(at):
                for k, ch in enumerate("var  "):
                    edits[at + k] = ch
                params_at.add(at)
    if not edits:
        return text, params_at, notes
    chars = list(text)
    for i, ch in edits.items():
        chars[i] = ch
    return "".join(chars), params_at, notes


_CODE = re.compile(r"//|/\*|'|\{|\}")
_CODE_FLAT = re.compile(r"//|/\*|'")
_IN_STRING = re.compile(r"\\.|'|\n|\$\{|/", re.S)


def _scan(text: str) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Spans of strings and comments (not code), the offsets of '/' inside strings, and where
    unterminated strings start."""
    n = len(text)
    spans: list[tuple[int, int]] = []
    slashes: list[int] = []
    unterminated: list[int] = []
    stack: list[int] = []  # brace depth inside each interpolation we are in
    i = 0
    while i < n:
        m = (_CODE if stack else _CODE_FLAT).search(text, i)
        if m is None:
            break
        tok, at = m.group(), m.start()
        if tok == "//":
            end = text.find("\n", at)
            end = n if end < 0 else end
            spans.append((at, end))
            i = end
        elif tok == "/*":
            end = text.find("*/", at + 2)
            end = n if end < 0 else end + 2
            spans.append((at, end))
            i = end
        elif tok == "{":
            stack[-1] += 1
            i = at + 1
        elif tok == "}":
            if stack[-1] == 0:
                stack.pop()
                i = _string_end(text, at, spans, slashes, stack, unterminated)
            else:
                stack[-1] -= 1
                i = at + 1
        elif text.startswith("'''", at):
            end = text.find("'''", at + 3)
            end = n if end < 0 else end + 3
            spans.append((at, end))
            slashes.extend(k for k in range(at, end) if text[k] == "/")
            i = end
        else:
            i = _string_end(text, at, spans, slashes, stack, unterminated)
    return spans, slashes, unterminated


def _string_end(text: str, start: int, spans: list, slashes: list, stack: list, unterminated: list) -> int:
    """Scan a string literal (from its quote, or from the `}` closing an interpolation)."""
    i = start + 1
    n = len(text)
    while True:
        m = _IN_STRING.search(text, i)
        if m is None:
            spans.append((start, n))
            unterminated.append(start)
            return n
        tok = m.group()
        if tok == "/":
            slashes.append(m.start())
            i = m.end()
            continue
        if tok.startswith("\\"):
            i = m.end()
            continue
        if tok == "${":
            spans.append((start, m.end()))
            stack.append(0)
            return m.end()
        if tok == "\n":
            unterminated.append(start)
        spans.append((start, m.end()))  # the closing quote, or an unterminated line
        return m.end()


# ----------------------------------------------------------------------------- CST -> tree

_INFIX = frozenset({"bin", "un", "tern", "lam"})
_ESCAPES = {"\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "$": "$"}
# Text of an ERROR node that is newer Bicep syntax rather than a mistake.
_NEWER = re.compile(r"\.\.\.|\^|\bresource(Input|Output)\s*<|\bassert\b|\bwith\b\s*\{")


class _Builder:
    def __init__(self, src: bytes, text: str, params_at: set[int]):
        self.src = src
        self.text = text
        self.ascii = text.isascii()
        self.lines: list[bytes] | None = None
        self.params_at_bytes = {len(text[:i].encode("utf-8", "surrogatepass")) for i in params_at} \
            if params_at and not self.ascii else params_at
        self.problems: list[Problem] = []
        self._depth = 0

    # ----------------------------------------------------------------------- positions

    def pos(self, node: Any) -> tuple[int, int]:
        row, col = node.start_point
        if self.ascii or col == 0:
            return row + 1, col + 1
        if self.lines is None:
            self.lines = self.src.split(b"\n")
        line = self.lines[row] if row < len(self.lines) else b""
        return row + 1, len(line[:col].decode("utf-8", "replace")) + 1

    def text_of(self, node: Any) -> str:
        return self.src[node.start_byte:node.end_byte].decode("utf-8", "replace")

    # ----------------------------------------------------------------------- problems

    def collect_problems(self, root: Any) -> None:
        """Every ERROR and MISSING node of the tree, once: a syntax error, or newer syntax the
        grammar does not know (skipped; the expression holding it becomes unknown)."""
        stack = [root]
        while stack:
            n = stack.pop()
            if n.is_error or n.is_missing:
                self._problem(n)
                continue
            if n.has_error:
                stack.extend(reversed(n.children))

    def _problem(self, node: Any) -> None:
        pos = self.pos(node)
        if node.is_missing:
            what = node.type.strip()
            self.problems.append(Problem(f"invalid Bicep: missing {what!r}" if what else
                                         "invalid Bicep: incomplete input", pos, True))
            return
        text = self.text_of(node)
        snippet = " ".join(text.split())[:60]
        parent = node.parent
        if text.strip() == "resource" and parent is not None and parent.type in (
                "parameter_declaration", "output_declaration"):
            return  # a resource-typed parameter or output: a type, nothing to evaluate
        if _NEWER.search(text):
            self.problems.append(Problem(f"`{snippet}` is Bicep syntax preflight does not read; skipped",
                                         pos, False))
            return
        self.problems.append(Problem(f"invalid Bicep: unexpected `{snippet}`" if snippet else "invalid Bicep",
                                     pos, True))

    # ----------------------------------------------------------------------- statements

    def statements(self, root: Any) -> list[Decl]:
        out: list[Decl] = []
        pending: list[X] = []
        for child in root.children:
            t = child.type
            if t in ("comment", "diagnostic_comment"):
                continue
            if t == "decorators":
                pending.extend(self.decorators(child))
                continue
            if child.is_error or child.is_missing:
                pending = []
                continue
            try:
                decl = self.statement(child)
            except RecursionError:
                self.problems.append(Problem("expression nested too deeply", self.pos(child), True))
                decl = None
            if decl is not None:
                decl.decorators = pending + decl.decorators
                out.append(decl)
            pending = []
        return out

    def decorators(self, node: Any) -> list[X]:
        out = []
        for d in node.named_children:
            if d.type != "decorator":
                continue
            inner = [c for c in d.named_children if c.type != "comment"]
            if inner:
                out.append(self.expr(inner[0]))
        return out

    def statement(self, node: Any) -> Decl | None:
        t = node.type
        named = [c for c in node.named_children if c.type not in ("comment", "diagnostic_comment")]
        pos = self.pos(node)
        if t == "parameter_declaration":
            name = self._ident(named)
            type_node = next((c for c in named[1:] if c.type == "type"), None)
            value_nodes = [c for c in named[1:] if c.type != "type" and not c.is_error]
            type_text = self.type_text(type_node, node)
            default = self.expr(value_nodes[-1]) if value_nodes else None
            return Decl("param", name, pos, default, type_text, name_pos=self._ident_pos(named))
        if t == "variable_declaration":
            name = self._ident(named)
            value = self.expr(named[-1]) if len(named) > 1 else X("bad", pos, "", "no value")
            kind = "param" if node.start_byte in self.params_at_bytes else "var"
            return Decl(kind, name, pos, value, name_pos=self._ident_pos(named))
        if t == "resource_declaration":
            return self.resource(node, named, pos)
        if t == "module_declaration":
            name = self._ident(named)
            path = self._string_value(named[1]) if len(named) > 1 and named[1].type == "string" else None
            body = self.body(named[2]) if len(named) > 2 else None
            return Decl("module", name, pos, body, path, name_pos=self._ident_pos(named),
                        extra=self.pos(named[1]) if len(named) > 1 else pos)
        if t == "output_declaration":
            return Decl("output", self._ident(named), pos)  # outputs are not evaluated
        if t == "user_defined_function":
            name_node = node.child_by_field_name("name")
            params = []
            pnode = next((c for c in named if c.type == "parameters"), None)
            if pnode is not None:
                for p in pnode.named_children:
                    if p.type == "parameter":
                        ids = [c for c in p.named_children if c.type == "identifier"]
                        if ids:
                            params.append(self.text_of(ids[0]))
            body_node = None
            seen_arrow = False
            for c in node.children:
                if c.type == "=>":
                    seen_arrow = True
                elif seen_arrow and c.is_named and c.type not in ("comment", "diagnostic_comment"):
                    body_node = c
            body = self.expr(body_node) if body_node is not None else X("bad", pos, "", "no body")
            return Decl("func", self.text_of(name_node) if name_node is not None else None, pos, body,
                        extra=params)
        if t == "type_declaration":
            name = self._ident(named)
            return Decl("type", name, pos, None, self.type_text(named[-1] if len(named) > 1 else None, node))
        if t in ("import_functionality", "import_statement", "import_with_statement"):
            ids = [self.text_of(c) for c in named if c.type == "identifier"]
            src = next((self._string_value(c) for c in named if c.type == "string"), None)
            return Decl("import", None, pos, None, src, extra=ids)
        if t == "target_scope_assignment":
            value = self._string_value(named[0]) if named and named[0].type == "string" else None
            return Decl("targetScope", None, pos, value)
        if t == "metadata_declaration":
            return Decl("metadata", self._ident(named), pos)
        if t == "using_statement":
            value = self._string_value(named[0]) if named and named[0].type == "string" else None
            return Decl("using", None, pos, value)
        if t in ("test_block", "assert_statement"):
            return Decl("unknown", None, pos, None, t)
        self.problems.append(Problem(f"`{self.text_of(node).split()[0] if self.text_of(node).split() else t}` "
                                     "statement is not read by preflight; skipped", pos, False))
        return None

    def resource(self, node: Any, named: list, pos: tuple[int, int]) -> Decl:
        name = self._ident(named)
        rtype = self._string_value(named[1]) if len(named) > 1 and named[1].type == "string" else None
        existing = any(c.type == "existing" for c in node.children if not c.is_named)
        body = self.body(named[2]) if len(named) > 2 else X("bad", pos, "", "no body")
        return Decl("resource", name, pos, body, rtype, existing=existing, name_pos=self._ident_pos(named),
                    extra=self.pos(named[1]) if len(named) > 1 else pos)

    def body(self, node: Any) -> X:
        """A resource or module body: object, `if (...) {...}` or `[for ...: ...]`."""
        return self.expr(node)

    def type_text(self, type_node: Any, decl: Any) -> str | None:
        if type_node is None:
            return None
        text = self.text_of(type_node).strip()
        # a nullable user-defined type whose `?` was masked
        end = type_node.end_byte
        rest = self.src[end:end + 1]
        if rest == b"?" and not text.endswith("?"):
            text += "?"
        return text

    def _ident(self, named: list) -> str | None:
        for c in named:
            if c.type in ("identifier", "compatible_identifier"):
                return self.text_of(c)
        return None

    def _ident_pos(self, named: list) -> tuple[int, int] | None:
        for c in named:
            if c.type in ("identifier", "compatible_identifier"):
                return self.pos(c)
        return None

    def _string_value(self, node: Any) -> str | None:
        x = self.string(node)
        if x.kind == "lit" and isinstance(x.a, str):
            return x.a
        return None

    # ---------------------------------------------------------------------- expressions

    def expr(self, node: Any) -> X:
        self._depth += 1
        try:
            if self._depth > 200:
                raise RecursionError
            return self._expr(node)
        finally:
            self._depth -= 1

    def _expr(self, node: Any) -> X:
        t = node.type
        pos = self.pos(node)
        if node.is_error or node.is_missing:
            return X("bad", pos, self.text_of(node), "syntax")
        if t == "string":
            return self.string(node)
        if t == "number":
            text = self.text_of(node)
            try:
                return X("lit", pos, int(text))
            except ValueError:
                try:
                    return X("lit", pos, float(text))
                except ValueError:
                    return X("bad", pos, text, "number")
        if t == "boolean":
            return X("lit", pos, self.text_of(node) == "true")
        if t == "null":
            return X("lit", pos, None)
        if t in ("identifier", "compatible_identifier", "property_identifier"):
            return X("ident", pos, self.text_of(node))
        named = [c for c in node.named_children if c.type not in ("comment", "diagnostic_comment")]
        if t == "array":
            items: list[X] = []
            previous = None
            for c in named:
                if c.is_error or c.is_missing:
                    return X("bad", pos, self.text_of(node), "array")
                item = self.expr(c)
                # The grammar splits `[ f(x) ]` into `f` and `(x)` (and `f(a)[0]` into `f(a)`
                # and `[0]`): an item that starts exactly where the previous one ends continues it.
                if previous is not None and c.start_byte == previous.end_byte and items:
                    grafted = _graft(items[-1], item)
                    if grafted is not None:
                        items[-1] = grafted
                        previous = c
                        continue
                items.append(item)
                previous = c
            return X("arr", pos, items)
        if t == "object":
            return self.object(node, named, pos)
        if t == "parenthesized_expression":
            items = [self.expr(c) for c in named]
            if len(items) == 1:
                return X("paren", pos, items[0], items)
            # `(a, b)`: lambda parameters, or the arguments of a call the grammar split off
            return X("paren", pos, X("bad", pos, self.text_of(node), "parenthesized list"), items)
        if t == "unary_expression":
            op = next((c.type for c in node.children if not c.is_named), "?")
            arg = node.child_by_field_name("argument") or (named[0] if named else None)
            if arg is None:
                return X("bad", pos, self.text_of(node), "unary")
            return X("un", pos, op, self.expr(arg))
        if t == "binary_expression":
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            op_node = node.child_by_field_name("operator")
            op = op_node.type if op_node is not None else next(
                (c.type for c in node.children if not c.is_named), "?")
            if left is None or right is None:
                return X("bad", pos, self.text_of(node), "binary")
            left_x, right_x = self.expr(left), self.expr(right)
            if left_x.kind == "lam":  # `x => x.a < 1`: the lambda's body goes on (see _absorb)
                return X("lam", left_x.pos, left_x.a, _absorb(op, left_x.b, right_x, pos))
            return X("bin", pos, op, left_x, right_x)
        if t == "ternary_expression":
            c = node.child_by_field_name("condition")
            a = node.child_by_field_name("consequence")
            b = node.child_by_field_name("alternative")
            if c is None or a is None or b is None:
                return X("bad", pos, self.text_of(node), "ternary")
            cond = self.expr(c)
            if cond.kind == "lam":  # `x => x.ok ? 1 : 2`
                return X("lam", cond.pos, cond.a, X("tern", pos, cond.b, self.expr(a), self.expr(b)))
            return X("tern", pos, cond, self.expr(a), self.expr(b))
        if t == "lambda_expression":
            if len(named) < 2:
                return X("bad", pos, self.text_of(node), "lambda")
            params_node, body_node = named[0], named[-1]
            if params_node.type == "identifier":
                params = [self.text_of(params_node)]
            else:
                params = [self.text_of(c) for c in params_node.named_children if c.type == "identifier"]
            return X("lam", pos, params, self.expr(body_node))
        if t == "member_expression":
            obj = node.child_by_field_name("object")
            prop = node.child_by_field_name("property")
            if obj is None or prop is None:
                return X("bad", pos, self.text_of(node), "member")
            safe = any(c.type == ".?" for c in node.children if not c.is_named)
            name = self.text_of(prop)
            return _postfix(self.expr(obj), lambda base: X("mem", base.pos, base, name, safe))
        if t == "subscript_expression":
            obj = node.child_by_field_name("object")
            index = node.child_by_field_name("index")
            if obj is None or index is None:
                return X("bad", pos, self.text_of(node), "subscript")
            safe = any(c.type == "?" for c in node.children if not c.is_named)
            index_x = self.expr(index)
            return _postfix(self.expr(obj), lambda base: X("idx", base.pos, base, index_x, safe))
        if t == "resource_expression":
            obj = node.child_by_field_name("object")
            res = node.child_by_field_name("resource")
            if obj is None or res is None:
                return X("bad", pos, self.text_of(node), "resource access")
            res_name = self.text_of(res)
            return _postfix(self.expr(obj), lambda base: X("res", base.pos, base, res_name))
        if t == "call_expression":
            fn = node.child_by_field_name("function")
            args_node = node.child_by_field_name("arguments")
            args = []
            if args_node is not None:
                for c in args_node.named_children:
                    if c.type in ("comment", "diagnostic_comment"):
                        continue
                    args.append(self.expr(c))
            if fn is None:
                return X("bad", pos, self.text_of(node), "call")
            if fn.type in ("identifier", "compatible_identifier"):
                return X("call", pos, self.text_of(fn), args)
            if fn.type == "member_expression":
                target = fn.child_by_field_name("object")
                prop = fn.child_by_field_name("property")
                if target is None or prop is None:
                    return X("bad", pos, self.text_of(node), "call")
                name = self.text_of(prop)
                return _postfix(self.expr(target), lambda base: X("call", pos, name, args, None, base))
            return X("bad", pos, self.text_of(node), "call")
        if t == "for_statement":
            return self.for_(node, named, pos)
        if t == "if_statement":
            cond = named[0] if named else None
            body = named[1] if len(named) > 1 else None
            if cond is None or body is None:
                return X("bad", pos, self.text_of(node), "if")
            c = self.expr(cond)
            if c.kind == "paren":
                c = c.a
            return X("if", pos, c, self.expr(body))
        if t in ("resource_declaration",):
            return X("bad", pos, self.text_of(node), "resource")
        return X("bad", pos, self.text_of(node), t)

    def for_(self, node: Any, named: list, pos: tuple[int, int]) -> X:
        item = index = None
        rest = list(named)
        if rest and rest[0].type == "for_loop_parameters":
            params = rest.pop(0)
            for c in params.named_children:
                if c.type == "loop_variable":
                    item = self.text_of(c)
                elif c.type == "loop_enumerator":
                    index = self.text_of(c)
        elif rest and rest[0].type in ("identifier", "compatible_identifier"):
            item = self.text_of(rest.pop(0))
        if len(rest) < 2:
            return X("bad", pos, self.text_of(node), "for")
        iterable = self.expr(rest[0])
        if iterable.kind == "paren":
            iterable = iterable.a
        return X("for", pos, item, index, iterable, self.expr(rest[-1]))

    def object(self, node: Any, named: list, pos: tuple[int, int]) -> X:
        props: list[Prop] = []
        pending: list[X] = []
        bad = False
        for c in named:
            if c.type == "decorators":
                pending.extend(self.decorators(c))
                continue
            if c.is_error or c.is_missing:
                bad = True
                continue
            if c.type != "object_property":
                continue
            parts = [p for p in c.named_children if p.type not in ("comment", "diagnostic_comment")]
            if len(parts) == 1 and parts[0].type == "resource_declaration":
                r = parts[0]
                rnamed = [p for p in r.named_children if p.type not in ("comment", "diagnostic_comment")]
                decl = self.resource(r, rnamed, self.pos(r))
                decl.decorators = pending
                props.append(Prop(None, self.pos(c), decl))
                pending = []
                continue
            pending = []
            if len(parts) < 2:
                if c.has_error:
                    bad = True
                continue
            key_node, value_node = parts[0], parts[-1]
            if key_node.type == "string":
                key = self._string_value(key_node)
                if key is None:
                    bad = True
                    continue
            else:
                key = self.text_of(key_node)
            props.append(Prop(key, self.pos(key_node), self.expr(value_node)))
        if bad:
            return X("bad", pos, self.text_of(node), "object")
        return X("obj", pos, props)

    def string(self, node: Any) -> X:
        pos = self.pos(node)
        raw = self.text_of(node)
        if raw.startswith("'''"):
            body = raw[3:-3] if raw.endswith("'''") and len(raw) >= 6 else raw[3:]
            if body.startswith("\r\n"):
                body = body[2:]
            elif body.startswith("\n"):
                body = body[1:]
            return X("lit", pos, body)
        # The text between escapes and interpolations is read from the source: the grammar
        # drops whitespace-only content (`' '` parses as an empty string).
        parts: list[Any] = []
        src = self.src
        at = node.start_byte + 1
        end = node.end_byte - 1 if node.end_byte - node.start_byte >= 2 and src[node.end_byte - 1:node.end_byte] == b"'" \
            else node.end_byte
        content = src[at:end]
        if b"\\" not in content and b"${" not in content and not node.has_error:
            # Most strings: with no `\` or `${` in it there is no escape or interpolation, and
            # no error or missing token below it, so the loop below would only skip children.
            return X("lit", pos, content.decode("utf-8", "replace"))
        for c in node.children:
            t = c.type
            if t not in ("escape_sequence", "interpolation") and not (c.is_error or c.is_missing):
                continue
            # a token may start with the whitespace before it: find where it really begins
            begin = src.find(b"${" if t == "interpolation" else b"\\", c.start_byte, c.end_byte)
            begin = c.start_byte if begin < 0 or t not in ("escape_sequence", "interpolation") else begin
            if begin > at:
                parts.append(src[at:begin].decode("utf-8", "replace"))
            at = max(at, c.end_byte)
            if t == "escape_sequence":
                parts.append(_unescape(self.text_of(c)))
            elif t == "interpolation":
                inner = [x for x in c.named_children if x.type not in ("comment", "diagnostic_comment")]
                if not inner or c.has_error:
                    parts.append(X("bad", self.pos(c), self.text_of(c), "interpolation"))
                else:
                    parts.append(self.expr(inner[0]))
            else:
                return X("bad", pos, raw, "string")
        if end > at:
            parts.append(src[at:end].decode("utf-8", "replace"))
        merged: list[Any] = []
        for p in parts:
            if isinstance(p, str) and merged and isinstance(merged[-1], str):
                merged[-1] += p
            else:
                merged.append(p)
        if all(isinstance(p, str) for p in merged):
            return X("lit", pos, "".join(merged))
        return X("str", pos, merged)


def _unescape(seq: str) -> str:
    if len(seq) >= 2 and seq[1] in _ESCAPES:
        return _ESCAPES[seq[1]]
    m = re.fullmatch(r"\\u\{([0-9A-Fa-f]{1,6})\}", seq)
    if m:
        try:
            return chr(int(m.group(1), 16))
        except (ValueError, OverflowError):
            return ""
    return seq


def _postfix(base: X, make) -> X:
    """Apply a postfix operation, pushing it into the rightmost operand of an unparenthesised
    binary/unary/ternary/lambda expression (the grammar's precedence for postfix operators is
    too low)."""
    if base.kind not in _INFIX:
        return make(base)
    if base.kind == "bin":
        return X("bin", base.pos, base.a, base.b, _postfix(base.c, make))
    if base.kind == "un":
        return X("un", base.pos, base.a, _postfix(base.b, make))
    if base.kind == "tern":
        return X("tern", base.pos, base.a, base.b, _postfix(base.c, make))
    return X("lam", base.pos, base.a, _postfix(base.b, make))


def _graft(head: X, tail: X) -> X | None:
    """`head` continued by `tail` whose leftmost part is `(args)` (a call) or `[i]` (an index)."""
    if head.kind not in ("ident", "mem", "call", "idx", "paren"):
        return None
    if tail.kind == "paren" and isinstance(tail.b, list):
        if head.kind == "ident":
            return X("call", head.pos, head.a, list(tail.b))
        if head.kind == "mem":
            return X("call", head.pos, head.b, list(tail.b), None, head.a)
        return None
    if tail.kind == "arr":
        if len(tail.a) == 1:
            return X("idx", head.pos, head, tail.a[0], False)
        return None
    # descend the leftmost spine of `tail`
    if tail.kind in ("mem", "idx", "res"):
        inner = _graft(head, tail.a)
        return None if inner is None else X(tail.kind, tail.pos, inner, tail.b, tail.c, tail.d)
    if tail.kind == "call" and tail.d is not None:
        inner = _graft(head, tail.d)
        return None if inner is None else X("call", tail.pos, tail.a, tail.b, tail.c, inner)
    if tail.kind == "bin":
        inner = _graft(head, tail.b)
        return None if inner is None else X("bin", tail.pos, tail.a, inner, tail.c)
    if tail.kind == "tern":
        inner = _graft(head, tail.a)
        return None if inner is None else X("tern", tail.pos, inner, tail.b, tail.c)
    return None


# Binding strength of binary operators (higher binds tighter); the ternary is below them all.
_PRECEDENCE = {"*": 6, "/": 6, "%": 6, "+": 5, "-": 5, "<": 4, "<=": 4, ">": 4, ">=": 4,
               "==": 3, "!=": 3, "=~": 3, "!~": 3, "&&": 2, "||": 1, "??": 0}


def _absorb(op: str, body: X, right: X, pos: tuple[int, int]) -> X:
    """`body op right` inside a lambda whose body the grammar cut short: the operator goes as
    deep into the body's right edge as precedence sends it (`x => x.a && x.b > 1` is
    `x.a && (x.b > 1)`)."""
    strength = _PRECEDENCE.get(op, 0)
    if body.kind == "bin" and _PRECEDENCE.get(body.a, 0) < strength:
        return X("bin", body.pos, body.a, body.b, _absorb(op, body.c, right, pos))
    if body.kind == "tern":
        return X("tern", body.pos, body.a, body.b, _absorb(op, body.c, right, pos))
    if body.kind == "lam":
        return X("lam", body.pos, body.a, _absorb(op, body.b, right, pos))
    return X("bin", pos, op, body, right)
