"""Bicep source -> a small syntax tree (`Decl`s holding `X` expression nodes).

A hand-written parser: one regular expression splits the text into tokens (strings whole, with
an interpolated string split around its `${...}` expressions), then recursive descent reads
statements and precedence climbing reads expressions with Bicep's operator precedence.

A declaration the parser cannot read (newer syntax, or a mistake inside it) is skipped on its
own: it becomes a non-fatal `Problem` (reported as PF010), a parameter or variable of that name
keeps an unknown value, and reading resumes at the next line that starts with a decorator or a
statement keyword. Only what makes the whole file unreadable is fatal (PF001): an unterminated
string or comment, unbalanced brackets, a line at the top level that is not a statement.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, cast

# ------------------------------------------------------------------------------ the tree


class X:
    """An expression node. `kind` is one of:
    lit(value) str(parts: [str | X]) ident(name) arr(items) obj(props: [Prop]) call(name, args,
    ns, target) mem(obj, name, safe) idx(obj, index, safe) res(obj, name) un(op, x) bin(op, l, r)
    tern(c, a, b) lam(params, body) for(item, index, iterable, body) if(cond, body) paren(x)
    spread(x) (`...x`: an item of `arr`, or the value of a `Prop` without a key in `obj`)
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
    """An object property `key: value`; without a key, `value` is a Decl (a nested resource) or
    a `spread` X."""

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
    metadata, using, extends, unknown."""

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
    """A syntax error (`fatal`: the file does not compile) or a declaration or construct that
    is skipped (the rest of the file is still read)."""

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


def parse(text: str, bicepparam: bool = False) -> Parsed:
    """Parse Bicep (or .bicepparam) text. Never raises on bad input. The result is shared by
    every parse of the same text (a module is also parsed by each file that uses it): nothing
    changes it."""
    return _parse(text, bicepparam)


@lru_cache(maxsize=16)  # enough for the modules a folder shares; syntax trees are large
def _parse(text: str, bicepparam: bool) -> Parsed:
    tokens, error = tokenize(text)
    if error is not None:
        return Parsed([], [error], text)
    return _Parser(tokens, text).file()


# ------------------------------------------------------------------------------- tokens
#
# A token is (kind, text, line, column, offset): `text` is the exact source slice (empty for
# "nl" and "eof"). Kinds: "id", "num", "str" (a whole literal without interpolation), "ml" (a
# '''multi-line''' string), "sbeg"/"smid"/"send" (the pieces of an interpolated string around
# its `${...}` expressions: `'a${`, `}b${`, `}c'`), "nl" (one or more line ends), "eof", "bad"
# (a character Bicep does not use), and each operator or bracket as its own kind ("(", "=>").

_STRING_BODY = r"[^'\\\n$]*(?:(?:\\.|\$(?!\{))[^'\\\n$]*)*"
_TRIVIA = r"(?:[ \t\r]+|//[^\n]*|\#[^\n]*)*"  # blanks, comments, #disable-next-line pragmas
_TOKEN = re.compile(rf"""{_TRIVIA}(?:
    (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<nl>(?:\n{_TRIVIA})+)
  | (?P<bc>/\*)
  | (?P<op>\.\.\.|\.\?|::|=>|==|!=|=~|!~|<=|>=|&&|\|\||\?\?|[-+*/%!<>=?:.,()\[\]{{}}@^|&])
  | (?P<str>'(?!''){_STRING_BODY}')
  | (?P<ml>'''.*?''')
  | (?P<sbeg>'{_STRING_BODY}\$\{{)
  | (?P<num>[0-9]+)
  | (?P<eof>\Z)
  | (?P<bad>.)
)""", re.X | re.S)
_STRING_REST = re.compile(rf"\}}{_STRING_BODY}(?:'|\$\{{)")  # after an interpolation's `}`
_ESCAPE = re.compile(r"\\(u\{[0-9A-Fa-f]{1,6}\}|.)", re.S)
_ESCAPES = {"\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "$": "$"}


def tokenize(text: str) -> tuple[list[tuple], Problem | None]:
    """The tokens of `text`, or a lexical error (an unterminated string or comment)."""
    tokens: list[tuple] = []
    append = tokens.append
    line, line_start = 1, 0
    interpolations: list[int] = []  # `{` depth inside each `${...}` being read
    string_starts: list[int] = []
    pos = 0
    while True:
        resume = -1
        for m in _TOKEN.finditer(text, pos):
            kind = cast(str, m.lastgroup)  # every alternative of _TOKEN is a named group
            start, end = m.span(kind)
            if kind == "id" or kind == "str" or kind == "num":
                append((kind, text[start:end], line, start - line_start + 1, start))
            elif kind == "op":
                op = text[start:end]
                if interpolations and (op == "{" or op == "}"):
                    if op == "{":
                        interpolations[-1] += 1
                    elif interpolations[-1]:
                        interpolations[-1] -= 1
                    else:  # the `}` ending an interpolation: the string goes on
                        rest = _STRING_REST.match(text, start)
                        if rest is None:
                            return tokens, _unterminated(text, string_starts[-1], "string")
                        resume = rest.end()
                        piece = text[start:resume]
                        if piece.endswith("'"):
                            interpolations.pop()
                            string_starts.pop()
                            append(("send", piece, line, start - line_start + 1, start))
                        else:
                            append(("smid", piece, line, start - line_start + 1, start))
                        break
                append((op, op, line, start - line_start + 1, start))
            elif kind == "nl":
                if tokens and tokens[-1][0] != "nl":  # (after a block comment, it may be)
                    append(("nl", "", line, start - line_start + 1, start))
                line += text.count("\n", start, end)
                line_start = text.rfind("\n", start, end) + 1
            elif kind == "sbeg":
                interpolations.append(0)
                string_starts.append(start)
                append((kind, text[start:end], line, start - line_start + 1, start))
            elif kind == "ml":
                append((kind, text[start:end], line, start - line_start + 1, start))
                breaks = text.count("\n", start, end)
                if breaks:
                    line += breaks
                    line_start = text.rfind("\n", start, end) + 1
            elif kind == "eof":
                if interpolations:
                    return tokens, _unterminated(text, string_starts[-1], "string")
                append(("eof", "", line, start - line_start + 1, start))
                return tokens, None
            elif kind == "bc":
                close = text.find("*/", end)
                if close < 0:
                    return tokens, _unterminated(text, start, "comment")
                resume = close + 2
                breaks = text.count("\n", start, resume)
                if breaks:  # a comment across lines ends the line it starts on
                    if tokens and tokens[-1][0] != "nl":
                        append(("nl", "", line, start - line_start + 1, start))
                    line += breaks
                    line_start = text.rfind("\n", start, resume) + 1
                break
            else:  # "bad"
                if text[start] == "'":  # (inside `${...}`: the string around it)
                    return tokens, _unterminated(text, string_starts[-1] if string_starts else start, "string")
                append(("bad", text[start:end], line, start - line_start + 1, start))
        pos = resume


def _unterminated(text: str, at: int, what: str) -> Problem:
    line_start = text.rfind("\n", 0, at) + 1
    return Problem(f"invalid Bicep: unterminated {what}", (text.count("\n", 0, at) + 1, at - line_start + 1),
                   True)


def _unescape(raw: str) -> str:
    if "\\" not in raw:
        return raw
    return _ESCAPE.sub(_escaped, raw)


def _escaped(m: re.Match) -> str:
    seq = m.group(1)
    if len(seq) == 1:
        return _ESCAPES.get(seq, "\\" + seq)
    try:
        return chr(int(seq[2:-1], 16))
    except (ValueError, OverflowError):
        return ""


# ------------------------------------------------------------------------------- parser

# Binding strength of binary operators (higher binds tighter), as the Bicep docs define it;
# all are left-associative. Below them: the ternary `?:` (right-associative), then `=>`.
_PRECEDENCE = {"??": 1, "||": 2, "&&": 3, "==": 4, "!=": 4, "=~": 4, "!~": 4,
               "<": 5, "<=": 5, ">": 5, ">=": 5, "+": 6, "-": 6, "*": 7, "/": 7, "%": 7}
_STATEMENTS = frozenset({"param", "var", "resource", "module", "output", "type", "func", "import",
                         "extension", "provider", "targetScope", "metadata", "using", "extends",
                         "test", "assert"})
_OPENING = {"(": ")", "[": "]", "{": "}"}
_CLOSING = frozenset(_OPENING.values())
# After a lone literal or name, these end the expression (a line end unless `?` or, inside
# parentheses, an operator follows).
_SIMPLE_END = frozenset({"nl", ",", ")", "]", "}", ":", "smid", "send", "eof"})
MAX_NESTING = 100


class _Unreadable(Exception):
    """A syntax error inside one declaration."""

    def __init__(self, message: str, token: tuple):
        super().__init__(message)
        self.message = message
        self.token = token


def _shown(token: tuple) -> str:
    kind = token[0]
    if kind == "nl":
        return "end of line"
    if kind == "eof":
        return "end of file"
    return f"`{token[1][:40]}`"


class _Parser:
    """Recursive descent for statements, precedence climbing for binary operators."""

    def __init__(self, tokens: list[tuple], text: str):
        self.tokens = tokens
        self.text = text
        self.i = 0
        self.tok = tokens[0]
        self.kind = self.tok[0]
        self.newlines_ok = 0  # > 0 inside `(...)`: a line end does not end the expression
        self.depth = 0  # brackets open in the expression being read
        self.head = self.tok  # the keyword of the declaration being read, and its name
        self.head_name: str | None = None

    # ------------------------------------------------------------------------ tokens

    def advance(self) -> tuple:
        tok = self.tok
        if self.kind != "eof":
            self.i += 1
            self.tok = self.tokens[self.i]
            self.kind = self.tok[0]
        return tok

    def jump(self, i: int) -> None:
        self.i = i
        self.tok = self.tokens[i]
        self.kind = self.tok[0]

    def skip_newlines(self) -> None:
        if self.kind == "nl":
            self.advance()

    def expect(self, kind: str) -> tuple:
        if self.kind != kind:
            raise _Unreadable(f"expected `{kind}`, found {_shown(self.tok)}", self.tok)
        return self.advance()

    def name(self) -> tuple:
        if self.kind != "id":
            raise _Unreadable(f"expected a name, found {_shown(self.tok)}", self.tok)
        return self.advance()

    def keyword(self, word: str) -> bool:
        if self.kind == "id" and self.tok[1] == word:
            self.advance()
            return True
        return False

    def source(self, first: int, last: int) -> str:
        """The source text from token `first` to token `last` (inclusive)."""
        end = self.tokens[last]
        return self.text[self.tokens[first][4]:end[4] + len(end[1])]

    def literal_string(self) -> tuple[str, tuple[int, int]]:
        tok = self.tok
        if tok[0] != "str":
            raise _Unreadable(f"expected a string literal, found {_shown(tok)}", tok)
        self.advance()
        return _unescape(tok[1][1:-1]), (tok[2], tok[3])

    # -------------------------------------------------------------------- statements

    def file(self) -> Parsed:
        decls: list[Decl] = []
        problems: list[Problem] = []
        tokens = self.tokens
        unreadable = False
        self.skip_newlines()
        while self.kind != "eof":
            first = self.i
            tok = self.tok
            if not (self.kind == "@" or (self.kind == "id" and tok[1] in _STATEMENTS)):
                snippet = self._line_of(tok)
                if tok[3] == 1:
                    problems.append(Problem(f"invalid Bicep: unexpected `{snippet}`", (tok[2], tok[3]), True))
                else:
                    problems.append(Problem(f"`{snippet}` is not read by preflight; skipped", (tok[2], tok[3]), False))
                self._resync(first)
                continue
            self.depth = 0
            self.newlines_ok = 0
            self.head = tok
            self.head_name = None
            try:
                decl = self.statement(problems)
                if self.kind != "nl" and self.kind != "eof":
                    raise _Unreadable(f"unexpected {_shown(self.tok)}", self.tok)
            except (_Unreadable, RecursionError) as exc:
                unreadable = True
                where = exc.token if isinstance(exc, _Unreadable) else self.tok
                reason = exc.message if isinstance(exc, _Unreadable) else "nested too deeply"
                head = self.head
                what = f"{head[1]} {self.head_name}" if self.head_name else head[1]
                problems.append(Problem(f"`{what}` is skipped: preflight cannot read it ({reason} at "
                                        f"{where[2]}:{where[3]})", (head[2], head[3]), False))
                decl = self._stand_in(head)
                self._resync(first)
            if decl is not None:
                decls.append(decl)
            self.skip_newlines()
        if unreadable:
            bracket = _unbalanced(tokens)
            if bracket is not None:
                problems.append(bracket)
        problems.sort(key=lambda p: (p.line, p.col))
        return Parsed(decls, problems, self.text)

    def _line_of(self, tok: tuple) -> str:
        end = self.text.find("\n", tok[4])
        return " ".join(self.text[tok[4]:end if end >= 0 else len(self.text)].split())[:60]

    def _resync(self, first: int) -> None:
        """Go to the next line that starts (column 1) with a decorator or a statement keyword
        (not a property named like one)."""
        tokens = self.tokens
        i = first + 1
        while True:
            tok = tokens[i]
            kind = tok[0]
            if kind == "eof":
                break
            if tok[3] == 1 and (kind == "@" or (kind == "id" and tok[1] in _STATEMENTS and tokens[i + 1][0] != ":")):
                break
            i += 1
        self.jump(i)

    def _stand_in(self, head: tuple) -> Decl | None:
        """What an unreadable declaration leaves behind: a parameter or variable with an
        unknown value, a resource as an `existing` one whose properties are unknown (references
        to it stay unknown, nothing is deployed for it)."""
        name = self.head_name
        if not name:
            return None
        pos = (head[2], head[3])
        bad = X("bad", pos, f"{head[1]} {name}", "not read")
        if head[1] in ("param", "var"):
            return Decl(head[1], name, pos, bad)
        if head[1] == "resource":
            return Decl("resource", name, pos, bad, None, existing=True)
        return None

    def decorators(self) -> list[X]:
        out = []
        while self.kind == "@":
            self.advance()
            out.append(self.postfix())
            self.skip_newlines()
        return out

    def statement(self, problems: list[Problem]) -> Decl | None:
        decorators = self.decorators() if self.kind == "@" else []
        tok = self.tok
        self.head = tok
        word = tok[1] if tok[0] == "id" else ""
        if word not in _STATEMENTS:
            raise _Unreadable(f"expected a declaration after the decorators, found {_shown(tok)}", tok)
        self.advance()
        pos = (tok[2], tok[3])
        if word in ("extension", "provider"):
            if self.kind == "str":
                self.advance()
            else:
                self.name()
            if self.keyword("with"):
                self.expr()
            if self.keyword("as"):
                self.name()
            problems.append(Problem(f"`{word}` statement (a Bicep extension) is not evaluated", pos, False))
            return None
        if word == "targetScope":
            self.expect("=")
            scope = self.expr()
            return Decl("targetScope", None, pos, scope.a if scope.kind == "lit" else None)
        if word in ("using", "extends"):
            target = None if self.keyword("none") and word == "using" else self.literal_string()[0]
            if self.keyword("with"):
                self.expr()
            return Decl(word, None, pos, target)
        if word == "import":
            return self.import_(pos)
        name_tok = self.name()
        name = name_tok[1]
        self.head_name = name
        name_pos = (name_tok[2], name_tok[3])
        if word == "param":
            type_text = None if self.kind == "=" else self.type_text(("=",))
            value = None
            if self.kind == "=":
                self.advance()
                value = self.expr()
            return Decl("param", name, pos, value, type_text, decorators, name_pos=name_pos)
        if word == "var":
            if self.kind != "=":
                self.type_text(("=",))  # a typed variable: the value says what it is
            self.expect("=")
            return Decl("var", name, pos, self.expr(), decorators=decorators, name_pos=name_pos)
        if word == "resource":
            return self.resource(pos, name, name_pos, decorators)
        if word == "module":
            path_pos = (self.tok[2], self.tok[3])
            path = self.literal_string()[0] if self.kind == "str" else None
            if path is None:
                raise _Unreadable(f"expected the module's path, found {_shown(self.tok)}", self.tok)
            self.expect("=")
            body = self.expr()
            return Decl("module", name, pos, body, path, decorators, name_pos=name_pos, extra=path_pos)
        if word == "output":
            if self.keyword("resource"):
                self.literal_string()
            else:
                self.type_text(("=",))
            self.expect("=")
            value = self.expr()  # not evaluated: kept for what it reads (the compiler's reads)
            return Decl("output", name, pos, value, decorators=decorators)
        if word == "type":
            self.expect("=")
            self.skip_newlines()
            return Decl("type", name, pos, None, self.type_text(()), decorators)
        if word == "func":
            self.expect("(")
            params = []
            while True:
                self.skip_newlines()
                if self.kind == ")":
                    break
                params.append(self.name()[1])
                self.type_text((",", ")"))
                if self.kind == ",":
                    self.advance()
            self.advance()
            self.type_text(("=>",))
            self.expect("=>")
            self.skip_newlines()
            return Decl("func", name, pos, self.expr(), decorators=decorators, extra=params)
        if word == "metadata":
            self.expect("=")
            self.expr()
            return Decl("metadata", name, pos, decorators=decorators)
        if word == "test":
            self.literal_string()
            self.expect("=")
            self.expr()
            return Decl("unknown", name, pos, None, "test", decorators)
        # assert
        self.expect("=")
        self.expr()
        return Decl("unknown", name, pos, None, "assert", decorators)

    def resource(self, pos: tuple[int, int], name: str, name_pos: tuple[int, int], decorators: list[X]) -> Decl:
        type_pos = (self.tok[2], self.tok[3])
        rtype = self.literal_string()[0]
        existing = self.keyword("existing")
        self.expect("=")
        body = self.expr()
        return Decl("resource", name, pos, body, rtype, decorators, existing=existing, extra=type_pos,
                    name_pos=name_pos)

    def import_(self, pos: tuple[int, int]) -> Decl:
        names: list[str] = []
        if self.kind == "{":
            self.advance()
            while True:
                while self.kind == "nl" or self.kind == ",":
                    self.advance()
                if self.kind == "}":
                    self.advance()
                    break
                imported = self.name()[1]
                names.append(self.name()[1] if self.keyword("as") else imported)
            if not self.keyword("from"):
                raise _Unreadable(f"expected `from`, found {_shown(self.tok)}", self.tok)
            source = self.literal_string()[0]
        elif self.kind == "*":
            self.advance()
            if not self.keyword("as"):
                raise _Unreadable(f"expected `as`, found {_shown(self.tok)}", self.tok)
            names.append(self.name()[1])
            if not self.keyword("from"):
                raise _Unreadable(f"expected `from`, found {_shown(self.tok)}", self.tok)
            source = self.literal_string()[0]
        else:  # `import 'provider@version' [with {...}] [as alias]`: the older extension form
            source = self.literal_string()[0]
            if self.keyword("with"):
                self.expr()
            if self.keyword("as"):
                names.append(self.name()[1])
        return Decl("import", None, pos, None, source, extra=names)

    def type_text(self, stops: tuple[str, ...]) -> str:
        """The source text of a type, up to a line end or one of `stops` outside brackets (a
        union may go on on the next line with a leading `|`)."""
        first = self.i
        depth = 0
        while True:
            kind = self.kind
            if depth == 0:
                if kind in stops or kind == "eof":
                    break
                if kind == "nl":
                    if self.tokens[self.i + 1][0] != "|":
                        break
            if kind in _OPENING:
                depth += 1
            elif kind in _CLOSING:
                depth -= 1
                if depth < 0:
                    break
            elif kind == "eof":
                raise _Unreadable("unexpected end of file in a type", self.tok)
            self.advance()
        if self.i == first:
            raise _Unreadable(f"expected a type, found {_shown(self.tok)}", self.tok)
        last = self.i - 1
        while self.tokens[last][0] == "nl":
            last -= 1
        return self.source(first, last)

    # ------------------------------------------------------------------- expressions

    def expr(self) -> X:
        """A whole expression: lambda, ternary, binary and unary operators."""
        tok = self.tok
        kind = tok[0]
        if kind == "nl":
            self.advance()  # a value may start on the line after `=`, `:` or `=>`
            tok = self.tok
            kind = tok[0]
        nxt = self.tokens[self.i + 1][0] if kind != "eof" else "eof"
        if nxt in _SIMPLE_END and (nxt != "nl" or not (self.newlines_ok or self.tokens[self.i + 2][0] == "?")):
            # a lone literal or name (most values): the short way
            if kind == "str":
                self.advance()
                return X("lit", (tok[2], tok[3]), _unescape(tok[1][1:-1]))
            if kind == "id" and tok[1] not in ("if", "for"):
                self.advance()
                word = tok[1]
                if word == "true" or word == "false":
                    return X("lit", (tok[2], tok[3]), word == "true")
                if word == "null":
                    return X("lit", (tok[2], tok[3]), None)
                return X("ident", (tok[2], tok[3]), word)
            if kind == "num":
                self.advance()
                return X("lit", (tok[2], tok[3]), int(tok[1]))
        if kind == "id" and nxt == "=>":
            self.advance()
            self.advance()
            self.skip_newlines()
            return X("lam", (tok[2], tok[3]), [tok[1]], self.expr())
        if kind == "(" and self._lambda_ahead():
            return self.lambda_()
        cond = self.binary(0)
        if self.kind == "nl" and self.tokens[self.i + 1][0] == "?":
            self.advance()  # `cond` on one line, `? a` on the next
        if self.kind != "?":
            return cond
        self.advance()
        self.newlines_ok += 1
        yes = self.expr()
        self.skip_newlines()
        self.expect(":")
        self.newlines_ok -= 1
        no = self.expr()
        return X("tern", cond.pos, cond, yes, no)

    def _lambda_ahead(self) -> bool:
        tokens, i = self.tokens, self.i
        first = tokens[i + 1][0]
        if first == ")":
            return tokens[i + 2][0] == "=>"
        if first != "id":
            return False
        second = tokens[i + 2][0]
        return second == "," or second == "id" or (second == ")" and tokens[i + 3][0] == "=>")

    def lambda_(self) -> X:
        tok = self.advance()  # (
        params = []
        while True:
            self.skip_newlines()
            if self.kind == ")":
                break
            params.append(self.name()[1])
            if self.kind != "," and self.kind != ")":
                self.type_text((",", ")"))
            if self.kind == ",":
                self.advance()
        self.advance()
        self.expect("=>")
        self.skip_newlines()
        return X("lam", (tok[2], tok[3]), params, self.expr())

    def binary(self, floor: int) -> X:
        left = self.unary()
        precedence = _PRECEDENCE
        while True:
            op = self.kind
            strength = precedence.get(op)
            if strength is None:
                if op == "nl" and self.newlines_ok:
                    nxt = self.tokens[self.i + 1][0]
                    if precedence.get(nxt, -1) >= floor:
                        self.advance()
                        continue
                return left
            if strength < floor:
                return left
            self.advance()
            self.skip_newlines()
            right = self.binary(strength + 1)
            left = X("bin", left.pos, op, left, right)

    def unary(self) -> X:
        kind = self.kind
        if kind == "!" or kind == "-":
            tok = self.advance()
            if kind == "-" and self.kind == "num":  # a negative number is one literal
                return X("lit", (tok[2], tok[3]), -int(self.advance()[1]))
            return X("un", (tok[2], tok[3]), kind, self.unary())
        return self.postfix()

    def postfix(self) -> X:
        x = self.primary()
        while True:
            kind = self.kind
            if kind == ".":
                self.advance()
                name = self.name()[1]
                if self.kind == "(":
                    x = X("call", x.pos, name, self.arguments(), None, x)
                else:
                    x = X("mem", x.pos, x, name, False)
            elif kind == ".?":
                self.advance()
                x = X("mem", x.pos, x, self.name()[1], True)
            elif kind == "[":
                self.advance()
                self.skip_newlines()
                safe = self.kind == "?"
                if safe:
                    self.advance()
                from_end = self.kind == "^"
                if from_end:
                    self.advance()
                index = self.expr()
                self.skip_newlines()
                self.expect("]")
                if from_end:  # `xs[^i]`: xs[length(xs) - i]
                    index = X("bin", index.pos, "-", X("call", index.pos, "length", [x]), index)
                x = X("idx", x.pos, x, index, safe)
            elif kind == "::":
                self.advance()
                x = X("res", x.pos, x, self.name()[1])
            elif kind == "!":  # `x!`: asserts x is not null; the value is x
                self.advance()
            else:
                return x

    def primary(self) -> X:
        tok = self.tok
        kind = tok[0]
        pos = (tok[2], tok[3])
        if kind == "id":
            word = tok[1]
            self.advance()
            if word == "if" and self.kind == "(":
                return self.if_(pos)
            if self.kind == "(":
                return X("call", pos, word, self.arguments())
            if word == "true" or word == "false":
                return X("lit", pos, word == "true")
            if word == "null":
                return X("lit", pos, None)
            return X("ident", pos, word)
        if kind == "str":
            self.advance()
            return X("lit", pos, _unescape(tok[1][1:-1]))
        if kind == "num":
            self.advance()
            return X("lit", pos, int(tok[1]))
        if kind == "sbeg":
            return self.interpolation()
        if kind == "ml":
            self.advance()
            body = tok[1][3:-3]
            if body.startswith("\r\n"):
                body = body[2:]
            elif body.startswith("\n"):
                body = body[1:]
            return X("lit", pos, body)
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _Unreadable("nested too deeply", tok)
        if kind == "{":
            x = self.object()
        elif kind == "[":
            x = self.array()
        elif kind == "(":
            self.advance()
            self.newlines_ok += 1
            self.skip_newlines()
            inner = self.expr()
            self.skip_newlines()
            self.expect(")")
            self.newlines_ok -= 1
            x = X("paren", pos, inner)
        else:
            raise _Unreadable(f"unexpected {_shown(tok)}", tok)
        self.depth -= 1
        return x

    def arguments(self) -> list[X]:
        self.advance()  # (
        self.newlines_ok += 1
        args = []
        self.skip_newlines()
        while self.kind != ")":
            args.append(self.expr())
            self.skip_newlines()
            if self.kind != ",":
                break
            self.advance()
            self.skip_newlines()
        self.expect(")")
        self.newlines_ok -= 1
        return args

    def if_(self, pos: tuple[int, int]) -> X:
        self.advance()  # (
        self.newlines_ok += 1
        self.skip_newlines()
        cond = self.expr()
        self.skip_newlines()
        self.expect(")")
        self.newlines_ok -= 1
        return X("if", pos, cond, self.expr())

    def interpolation(self) -> X:
        tok = self.advance()
        pos = (tok[2], tok[3])
        parts: list[Any] = []
        text = _unescape(tok[1][1:-2])
        saved, self.newlines_ok = self.newlines_ok, 1
        while True:
            if text:
                if parts and isinstance(parts[-1], str):
                    parts[-1] += text
                else:
                    parts.append(text)
            self.skip_newlines()
            parts.append(self.expr())
            self.skip_newlines()
            piece = self.tok
            if piece[0] == "smid":
                self.advance()
                text = _unescape(piece[1][1:-2])
            elif piece[0] == "send":
                self.advance()
                text = _unescape(piece[1][1:-1])
                if text:
                    parts.append(text)
                break
            else:
                raise _Unreadable(f"expected the end of `${{...}}`, found {_shown(piece)}", piece)
        self.newlines_ok = saved
        return X("str", pos, parts)

    def object(self) -> X:
        start = self.i
        tok = self.advance()  # {
        saved, self.newlines_ok = self.newlines_ok, 0
        props: list[Prop] = []
        decorators: list[X] = []
        readable = True
        while True:
            kind = self.kind
            if kind == "nl" or kind == ",":
                self.advance()
                continue
            if kind == "}":
                break
            key_tok = self.tok
            key_pos = (key_tok[2], key_tok[3])
            if kind == "@":
                self.advance()
                decorators.append(self.postfix())
                continue
            if kind == "...":
                self.advance()
                props.append(Prop(None, key_pos, X("spread", key_pos, self.expr())))
            elif kind == "id" and key_tok[1] == "resource" and self.tokens[self.i + 1][0] == "id":
                self.advance()
                name_tok = self.name()
                decl = self.resource(key_pos, name_tok[1], (name_tok[2], name_tok[3]), decorators)
                props.append(Prop(None, key_pos, decl))
            else:
                if kind == "id":
                    self.advance()
                    key = key_tok[1]
                elif kind == "str":
                    key = self.literal_string()[0]
                elif kind == "sbeg":  # a computed key: the object is not evaluated
                    self.interpolation()
                    key = None
                    readable = False
                else:
                    raise _Unreadable(f"expected a property, found {_shown(key_tok)}", key_tok)
                self.expect(":")
                value = self.expr()
                if key is not None:
                    props.append(Prop(key, key_pos, value))
            decorators = []
            if self.kind not in ("nl", ",", "}"):
                raise _Unreadable(f"expected a line end after the property, found {_shown(self.tok)}", self.tok)
        self.advance()
        self.newlines_ok = saved
        pos = (tok[2], tok[3])
        if not readable:
            return X("bad", pos, self.source(start, self.i - 1), "object")
        return X("obj", pos, props)

    def array(self) -> X:
        tok = self.advance()  # [
        pos = (tok[2], tok[3])
        saved, self.newlines_ok = self.newlines_ok, 0
        self.skip_newlines()
        if self.kind == "id" and self.tok[1] == "for":
            x = self.for_(pos)
            self.newlines_ok = saved
            return x
        items: list[X] = []
        while True:
            kind = self.kind
            if kind == "nl" or kind == ",":
                self.advance()
                continue
            if kind == "]":
                break
            if kind == "...":
                spread = self.advance()
                items.append(X("spread", (spread[2], spread[3]), self.expr()))
            else:
                items.append(self.expr())
            if self.kind not in ("nl", ",", "]"):
                raise _Unreadable(f"expected a line end after the item, found {_shown(self.tok)}", self.tok)
        self.advance()
        self.newlines_ok = saved
        return X("arr", pos, items)

    def for_(self, pos: tuple[int, int]) -> X:
        self.advance()  # for
        index = None
        if self.kind == "(":
            self.advance()
            item = self.name()[1]
            if self.kind == ",":
                self.advance()
                index = self.name()[1]
            self.expect(")")
        else:
            item = self.name()[1]
        if not self.keyword("in"):
            raise _Unreadable(f"expected `in`, found {_shown(self.tok)}", self.tok)
        iterable = self.expr()
        if iterable.kind == "paren":
            iterable = iterable.a
        self.expect(":")
        body = self.expr()
        self.skip_newlines()
        self.expect("]")
        return X("for", pos, item, index, iterable, body)


def _unbalanced(tokens: list[tuple]) -> Problem | None:
    """The first bracket that is never closed, or closed by the wrong kind, or a closing one
    with nothing to close."""
    stack: list[tuple] = []
    for tok in tokens:
        kind = tok[0]
        if kind in _OPENING:
            stack.append(tok)
        elif kind in _CLOSING:
            if not stack:
                return Problem(f"invalid Bicep: unexpected `{kind}`", (tok[2], tok[3]), True)
            if _OPENING[stack[-1][0]] != kind:
                opening = stack[-1]
                return Problem(f"invalid Bicep: `{opening[0]}` is not closed", (opening[2], opening[3]), True)
            stack.pop()
    if stack:
        opening = stack[-1]
        return Problem(f"invalid Bicep: `{opening[0]}` is not closed", (opening[2], opening[3]), True)
    return None
