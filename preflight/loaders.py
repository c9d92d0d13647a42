"""Loaders: text -> data, and data paths -> source positions.

JSON is read the way Azure Resource Manager reads it: the C `json` parser first (fast path),
then, only when that fails, a lenient parser that accepts what ARM and the Azure CLI accept
(a UTF-8 BOM, `//` and `/* */` comments, trailing commas, raw newlines inside strings,
duplicate keys with the last one winning). The lenient parser is iterative, so no input can
exhaust the Python stack, and it also records where every value starts; positions are only
computed for files that have findings.

YAML goes through PyYAML's safe loader (the C one when available): tags never build objects.
"""
from __future__ import annotations

import bisect
import json
import json.scanner
import os
import re
import stat
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Callable, cast

_YAML: Any = None


def _yaml() -> tuple[Any, Any]:
    """PyYAML and its safe loader, imported on first use: a scan of ARM templates alone never
    needs them (importing PyYAML is about 12 ms of a one-file run)."""
    global _YAML
    if _YAML is None:
        import yaml

        try:  # the C loader is ~10x faster; fall back to pure Python where libyaml is missing
            from yaml import CSafeLoader as loader
        except ImportError:  # pragma: no cover - depends on the PyYAML build
            from yaml import SafeLoader as loader  # type: ignore[assignment]
        _YAML = (yaml, loader)
    return _YAML

MAX_DEPTH = 512  # deeper nesting is refused: no real template comes close, and rules recurse
MAX_YAML_ALIASES = 1000  # alias bombs ("billion laughs") expand exponentially when walked
MAX_YAML_EXPANSION = 100_000  # nodes aliases may add to a document walked as a tree (9 aliases
# of 9 aliases ... 9 deep are 81 aliases, and 387 million nodes to `str()` or to walk)
# Nodes of one YAML document. PyYAML composes the whole node graph (each node with its marks)
# before building any data, and each conda entry is then parsed as a requirement: an 18 MB
# conda file of 800,000 entries took 1.7 GB and 114 s. Real conda environments and Azure ML
# configs have a few hundred nodes at most; a document with more is refused before composing.
MAX_YAML_NODES = 10_000
# Values of one JSON document. Parsed, a value is an object of up to 64 bytes from 3 bytes of
# text (`{},`), and the positions of a file with findings add a pointer and a position for each:
# 6 million values in an 18 MB template took 2.8 GB and 80 s. Real templates have a few
# thousand at most (6,359 in the largest of 2,000 public ones); one with more is refused before
# parsing.
MAX_JSON_VALUES = 200_000
_YAML_INDICATORS = ("\n", "-", ":", ",", "[", "{", "?")


class LoadError(Exception):
    """A file could not be read as its format; carries the parser's 1-based position."""

    def __init__(self, message: str, line: int = 1, column: int = 1):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class TooDeep(LoadError):
    """Arrays and objects nested deeper than a reader allows (no real document comes close)."""


class UnsupportedTag(LoadError):
    """A YAML tag the safe loader has no constructor for (`!!python/object:...`, `!Ref`). Such
    a tag is never run, and a file of a known kind that has one cannot be checked."""


class Templated(LoadError):
    """A file that is YAML only once a template tool fills in its placeholders (`{{NAME}}`,
    `{% if %}`): its values are not known until then, so it is not checked."""


class TooLargeToCheck(LoadError):
    """A document that parses, but is too large to check (too many values): whatever it is
    meant to be, it is reported, not taken for a file of another kind."""


class TextLines:
    """Offset -> (line, column) for one text, both 1-based."""

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1


class FileTooLarge(Exception):
    def __init__(self, size: int):
        super().__init__(f"{size:,} bytes")
        self.size = size


class NotRegularFile(OSError):
    """A FIFO, socket or device where a file was expected: never opened for reading."""


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def read_regular_file(path: str, limit: int, *, dir_fd: int | None = None, follow_links: bool = True) -> bytes:
    """A regular file's bytes, never blocking on a FIFO or device (even one swapped in after
    discovery): OSError when it cannot be read or is not a regular file, FileTooLarge over
    `limit` bytes (checked before reading, and again while reading a file that grows).
    `dir_fd`: `path` is relative to that open folder; `follow_links=False`: a link in the
    file's place is an OSError (ELOOP), not followed."""
    fd = os.open(path, _READ_FLAGS if follow_links else _READ_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile("not a regular file")
        if st.st_size > limit:
            raise FileTooLarge(st.st_size)
        # One read of the size fstat gave (plus one byte, to see a file that grew), then small
        # chunks. A fixed 1 MiB read buffer, freed at once, made glibc move its mmap threshold up
        # and serve every later file from a heap that then fragmented: memory grew with the number
        # of files read (measured: +15 MiB over 4,400 templates). A regular file's read returns
        # less than asked only at its end, so a short read ends the loop without a read to see it.
        chunks, size, want = [], 0, st.st_size + 1
        while True:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileTooLarge(size)
            if len(chunk) < want:
                break
            want = 1 << 16
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def encoding_of(raw: bytes) -> tuple[bytes, str]:
    """(byte-order mark, codec) of a file's bytes: UTF-8 without a mark unless one says otherwise."""
    for bom, codec in BOMS:
        if raw.startswith(bom):
            return bom, codec
    return b"", "utf-8"


def encode_like(original: bytes, text: str) -> bytes:
    """`text` in the encoding, and with the byte-order mark, of `original` (a file being fixed
    keeps its encoding)."""
    bom, codec = encoding_of(original)
    return bom + text.encode(codec)


_LOWER_SLICE = 1 << 16


def lowered(text: str) -> str:
    """`text.lower()` for searching ASCII words in it. A text that is not ASCII is lowered in
    slices: `str.lower` works on such a text in a buffer of 12 bytes a character, 8 MB for a
    650 KB template. (Slicing can only change a Greek final sigma at a slice's end.)"""
    if text.isascii():
        return text.lower()
    return "".join([text[i:i + _LOWER_SLICE].lower() for i in range(0, len(text), _LOWER_SLICE)])


def decode(raw: bytes) -> str:
    """Bytes -> text: UTF-8, or the UTF-8/16/32 a byte-order mark announces (the mark is
    dropped). Anything else is a LoadError at the bad byte (line and column in the text)."""
    bom, codec = encoding_of(raw)
    if codec == "utf-8" and b"\x00" in raw[:8192]:
        raise LoadError("binary content (NUL bytes): not a text file")
    body = raw[len(bom):]
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        before = body[: exc.start].decode(codec, "replace")
        line, col = TextLines(before).position(len(before))  # in characters, not bytes
        what = "UTF-8" if codec == "utf-8" else codec.upper().replace("-LE", " LE").replace("-BE", " BE")
        raise LoadError(f"not valid {what} (byte 0x{body[exc.start]:02x})", line, col) from None
    if codec != "utf-8" and "\x00" in text[:8192]:
        raise LoadError("binary content (NUL characters): not a text file")
    return text


def pointer_escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def join_pointer(parent: str, key: Any) -> str:
    # Called for every member of every document walked: most keys need no escaping, and the
    # check for that is cheaper than a call to pointer_escape.
    key = str(key)
    if "~" in key or "/" in key:
        key = key.replace("~", "~0").replace("/", "~1")
    return parent + "/" + key


def split_pointer(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]


# ---------------------------------------------------------------------------------------- JSON

# Digits of the longest JSON integer read as an int. Python refuses to convert longer digit
# strings (4,300 digits by default, and no interpreter setting allows fewer than 640): a longer
# integer is read as a float, infinite past 308 digits, which is out of every range a rule
# checks, as ARM's 64-bit integers are. The limit is the interpreter's and process-wide, so it
# is left alone.
MAX_INT_DIGITS = 640


def parse_int(digits: str) -> int | float:
    """A JSON integer's digits as an int, or as a float when there are too many to convert."""
    return int(digits) if len(digits) <= MAX_INT_DIGITS else float(digits)


# One decoder for every document: `json.loads` with an argument builds a new one each call.
_DECODER = json.JSONDecoder(parse_int=parse_int)


def load_json(text: str) -> Any:
    """Parse JSON as ARM does. Strict C parser first; then, as the Azure CLI does, the C parser
    again on the text without comments and trailing commas and with raw control characters
    allowed; the iterative lenient parser only when that fails too (it gives the error position).
    A document of more than MAX_JSON_VALUES values is refused (TooLargeToCheck)."""
    _check_value_count(text)
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):
        pass
    try:
        return json.loads(_strip_comments_and_trailing_commas(text), strict=False, parse_int=parse_int)
    except (ValueError, RecursionError):
        pass
    value, _ = _parse_lenient(text, positions=False)
    return value


def _check_value_count(text: str) -> None:
    """Refuse, before parsing it, a document of more than MAX_JSON_VALUES values. The values
    inside a non-empty array or object are one more than the commas between them, so a document
    holds 1 + commas + non-empty containers values: counted on the text (at most that), then,
    only when that is over the limit, on the text with its strings emptied (their commas and
    brackets are no values) and without its empty containers."""
    if len(text) < MAX_JSON_VALUES:  # each value takes a character at least: nothing to count
        return
    if 1 + text.count(",") + text.count("[") + text.count("{") <= MAX_JSON_VALUES:
        return
    structure = _STRING.sub('""', text)
    structure = _EMPTY_CONTAINER.sub("", structure)
    if 1 + structure.count(",") + structure.count("[") + structure.count("{") > MAX_JSON_VALUES:
        raise TooLargeToCheck(f"a JSON document of over {MAX_JSON_VALUES:,} values is too large to check "
                              "(no template or configuration is near it)")


# A JSON string literal. `"(?:[^"\\]|\\.)*"` would keep one backtracking entry per character
# (over 100 bytes each: a 5 MB string took 600 MB); possessive runs keep none (Python 3.11+),
# and the unrolled form keeps one per escape sequence only (3.10).
JSON_STRING = r'"(?:[^"\\]++|\\.)*+"' if sys.version_info >= (3, 11) else r'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRING = re.compile(JSON_STRING)
_EMPTY_CONTAINER = re.compile(r"\[\s*\]|\{\s*\}")
_STRING_OR_COMMENT = re.compile(JSON_STRING + r'|//[^\n]*|/\*.*?\*/', re.DOTALL)
_STRING_OR_TRAILING_COMMA = re.compile(JSON_STRING + r'|,(?=\s*[}\]])', re.DOTALL)


def _strip_comments_and_trailing_commas(text: str) -> str:
    def keep_strings(m: re.Match) -> str:
        token = m.group()
        return token if token.startswith('"') else (" " if token.startswith("/*") else "")

    text = _STRING_OR_COMMENT.sub(keep_strings, text.lstrip("\ufeff"))
    return _STRING_OR_TRAILING_COMMA.sub(keep_strings, text)


def json_positions(text: str) -> dict[str, tuple[int, int]]:
    """JSON pointer -> (line, column) of the member's key (or of the array item)."""
    _, positions = _parse_lenient(text, positions=True)
    return positions


_COUNTED_LOOKUPS = 16


class JsonPositions(Mapping):
    """`json_positions(text)` computed one pointer at a time: what a file with a few findings
    needs, without tokenizing all of a large template in Python. A looked-up pointer is found by
    walking the text down its path, reading each container's members with the C scanner only as
    far as the one asked for (the scanner passes a member by reading its value: the values past
    it are read only when a later member is asked for); offsets become (line, column) by
    counting line ends. A text the lenient parser reads differently from strict JSON (comments,
    trailing commas, NaN, duplicate keys, nesting over MAX_DEPTH) gets the full `json_positions`
    instead, so the answers are the same either way; a text that is not JSON at all has only the
    root, at (1, 1)."""

    def __init__(self, text: str):
        self.text = text
        self._strict: bool | None = None  # None: not yet known
        self._full: dict[str, tuple[int, int]] | None = None
        # container offset -> [{key: (key offset, value offset)} | [item offset], the offset
        # reading goes on from (None: all read), whether the value there is to be passed first]
        self._children: dict[int, list[Any]] = {}
        self._found: dict[str, tuple[int, int] | None] = {}
        self._counted = 0  # offsets turned into positions by counting line ends
        self._lines: TextLines | None = None

    def _everything(self) -> dict[str, tuple[int, int]]:
        if self._full is None:
            try:
                self._full = json_positions(self.text)
            except LoadError:
                self._full = {"": (1, 1)}
        return self._full

    def _walkable(self) -> bool:
        if self._strict is None:
            try:
                data = json.loads(self.text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
                self._strict = not _nested_deeper_than(data, MAX_DEPTH)
            except (ValueError, RecursionError):
                self._strict = False
        return self._strict and self._full is None

    def _lookup(self, pointer: str) -> tuple[int, int] | None:
        if pointer in self._found:
            return self._found[pointer]
        if not self._walkable():
            return self._everything().get(pointer)
        text = self.text
        offset = _json_ws(text).end()
        if not pointer:
            return self.position(offset) if text[offset] in "{[" else (1, 1)
        if pointer[0] != "/":
            return None
        at: int | None = None
        for escaped in pointer[1:].split("/"):
            part = escaped.replace("~1", "/").replace("~0", "~")
            if pointer_escape(part) != escaped:  # not a pointer join_pointer writes
                return None
            member = self._member(offset, part)
            if member is None:
                return None
            at, offset = member
        found = self.position(at)  # type: ignore[arg-type]
        self._found[pointer] = found
        return found

    def _member(self, offset: int, part: str) -> tuple[int, int] | None:
        """(key offset, value offset) of the member `part` of the object at `offset`, or (item
        offset, item offset) of the item `part` of the array there; None when it has none, or a
        scalar is there. The text is strict JSON without duplicate keys (`_walkable`)."""
        text = self.text
        state = self._children.get(offset)
        if state is None:
            opening = text[offset]
            if opening not in "{[":
                return None
            state = self._children[offset] = [{} if opening == "{" else [], _json_ws(text, offset + 1).end(), False]
        children, pos, skip = state
        if isinstance(children, dict):
            if part in children:
                return children[part]
            index, closing = -1, "}"
        else:
            if not _INDEX.fullmatch(part):
                return None
            index, closing = int(part), "]"
            if index < len(children):
                return children[index], children[index]
        if pos is None:  # every member read
            return None
        ws, scan = _json_ws, _SCAN
        while True:
            if skip:  # past the value of the member read last
                _, end = scan(text, pos)
                pos = ws(text, end).end()
                if text[pos] == ",":
                    pos = ws(text, pos + 1).end()
            if text[pos] == closing:
                state[1] = None
                return None
            skip = state[2] = True
            if index < 0:
                key, end = scan(text, pos)
                value_at = ws(text, ws(text, end).end() + 1).end()  # past the ':'
                children[key] = (pos, value_at)
                state[1] = pos = value_at
                if key == part:
                    return children[key]
            else:
                children.append(pos)
                state[1] = pos
                if len(children) > index:
                    return pos, pos

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column) of an offset, as TextLines gives it: the line ends before it counted
        for a file's first few lookups, then its TextLines (one pass over the text), so that a
        file with thousands of findings is not counted through once per finding."""
        if self._lines is None:
            self._counted += 1
            if self._counted <= _COUNTED_LOOKUPS:
                text = self.text
                return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
            self._lines = TextLines(self.text)
        return self._lines.position(offset)

    def __contains__(self, pointer: object) -> bool:
        return isinstance(pointer, str) and self._lookup(pointer) is not None

    def __getitem__(self, pointer: str) -> tuple[int, int]:
        found = self._lookup(pointer) if isinstance(pointer, str) else None
        if found is None:
            raise KeyError(pointer)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._everything())

    def __len__(self) -> int:
        return len(self._everything())


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a duplicate key")
    return found


_JSON_WS = re.compile(r"[ \t\n\r]*")
# matches at every offset (perhaps nothing), so its match is never None
_json_ws = cast(Callable[..., "re.Match[str]"], _JSON_WS.match)
_INDEX = re.compile(r"0|[1-9][0-9]*")
# the C scanner: (value, end) at an offset. typeshed's stub wrongly types its argument as a scanner
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\n\ufeff]+)
      | (?P<comment>//[^\n]*|/\*.*?\*/)
      | (?P<str>""" + JSON_STRING + r""")
      | (?P<num>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
      | (?P<lit>true|false|null)
      | (?P<punct>[{}\[\]:,])""",
    re.VERBOSE | re.DOTALL,
)
_LITERALS = {"true": True, "false": False, "null": None}


def _tokens(text: str):
    """Yield (kind, value, offset) with whitespace and comments dropped."""
    pos, end = 0, len(text)
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            yield "bad", text[pos], pos
            return
        kind = m.lastgroup
        if kind == "str":
            token = m.group()
            if "\\" not in token:  # no escapes: the text between the quotes is the value
                yield "str", token[1:-1], pos
            else:
                try:
                    value: Any = json.loads(token, strict=False)
                except ValueError:
                    yield "badstr", token, pos
                    return
                yield "str", value, pos
        elif kind == "num":
            tok = m.group()
            yield "value", (float(tok) if any(c in tok for c in ".eE") else parse_int(tok)), pos
        elif kind == "lit":
            yield "value", _LITERALS[m.group()], pos
        elif kind == "punct":
            yield m.group(), None, pos
        pos = m.end()
    yield "eof", None, end


def _describe(kind: str, value: Any) -> str:
    if kind == "eof":
        return "unexpected end of file"
    if kind == "bad":
        if value == '"':
            return "unterminated string"
        if value == "/":
            return "unterminated comment"
        return f"unexpected character {value!r}"
    if kind == "badstr":
        return "invalid escape sequence in string"
    if kind in ("str", "value"):
        return "unexpected value (missing comma?)"
    return f"unexpected {kind!r}"


def _parse_lenient(text: str, positions: bool) -> tuple[Any, dict[str, tuple[int, int]]]:
    lines: TextLines | None = None
    found: dict[str, tuple[int, int]] = {}

    def where(offset: int) -> tuple[int, int]:
        nonlocal lines
        if lines is None:
            lines = TextLines(text)
        return lines.position(offset)

    def fail(kind: str, value: Any, offset: int) -> LoadError:
        return LoadError(_describe(kind, value), *where(offset))

    # Each frame: [container, pointer, pending_key]; state says what the next token may be.
    stack: list[list[Any]] = []
    root: Any = None
    have_root = False
    state = "value"  # value | key | colon | after (a value just ended: ',' or close)
    tokens = _tokens(text)
    for kind, value, offset in tokens:
        if state in ("value", "key") and kind == "eof":
            raise fail(kind, value, offset)
        if state == "key":
            if kind == "str":
                stack[-1][2] = value
                if positions:
                    found[join_pointer(stack[-1][1], value)] = where(offset)
                state = "colon"
                continue
            if kind == "}":  # empty object or trailing comma
                kind_closed = stack.pop()
                value = kind_closed[0]
                state = "after"
                if not stack:
                    root, have_root = value, True
                else:
                    _attach(stack[-1], value)
                continue
            raise LoadError("expected a property name in double quotes", *where(offset))
        if state == "colon":
            if kind != ":":
                raise LoadError("expected ':' after property name", *where(offset))
            state = "value"
            continue
        if state == "after":
            if kind == "eof" and not stack:
                break
            if not stack:
                raise LoadError("extra data after the top-level value", *where(offset))
            container = stack[-1][0]
            if kind == ",":
                state = "key" if isinstance(container, dict) else "value"
                continue
            if (kind == "}" and isinstance(container, dict)) or (kind == "]" and isinstance(container, list)):
                frame = stack.pop()
                if not stack:
                    root, have_root = frame[0], True
                else:
                    _attach(stack[-1], frame[0])
                continue
            raise fail(kind, value, offset)
        # state == "value"
        if kind == "]" and stack and isinstance(stack[-1][0], list):  # empty array / trailing comma
            frame = stack.pop()
            state = "after"
            if not stack:
                root, have_root = frame[0], True
            else:
                _attach(stack[-1], frame[0])
            continue
        if kind in ("{", "["):
            if len(stack) >= MAX_DEPTH:
                raise TooDeep(f"nesting deeper than {MAX_DEPTH} levels", *where(offset))
            pointer = _child_pointer(stack)
            if positions and not stack:
                found[""] = where(offset)
            elif positions and isinstance(stack[-1][0], list):
                found[pointer] = where(offset)
            stack.append([{} if kind == "{" else [], pointer, None])
            state = "key" if kind == "{" else "value"
            continue
        if kind in ("str", "value"):
            if positions and stack and isinstance(stack[-1][0], list):
                found[_child_pointer(stack)] = where(offset)
            if not stack:
                root, have_root = value, True
            else:
                _attach(stack[-1], value)
            state = "after"
            continue
        raise fail(kind, value, offset)
    if not have_root:  # pragma: no cover - the loop raises first
        raise LoadError("empty document")
    if positions and "" not in found:
        found[""] = (1, 1)
    return root, found


def _child_pointer(stack: list[list[Any]]) -> str:
    if not stack:
        return ""
    container, pointer, key = stack[-1]
    if isinstance(container, list):
        return join_pointer(pointer, len(container))
    return join_pointer(pointer, key)


def _attach(frame: list[Any], value: Any) -> None:
    container = frame[0]
    if isinstance(container, list):
        container.append(value)
    else:
        container[frame[2]] = value  # duplicate keys: the last one wins, as in ARM


# ---------------------------------------------------------------------------------------- YAML

def load_yaml(text: str) -> Any:
    """Safe-load one YAML document. Alias bombs and tags are refused as LoadErrors."""
    yaml, loader = _yaml()
    if "*" in text and text.count("*") > MAX_YAML_ALIASES:
        _check_aliases(text)
    # Each node starts at a line, after an indicator ('- ', ': ', ', ', '[', '{', '? '), or is
    # the empty value after one: at most two per line or indicator. Only a document with that
    # many is counted, by streaming the parser's events (which keeps nothing).
    if 1 + 2 * sum(text.count(c) for c in _YAML_INDICATORS) > MAX_YAML_NODES:
        _check_node_count(text)
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
        if "*" in text:
            _check_expansion(data, text)
        return data
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        tag = _UNKNOWN_TAG.match(problem)
        if tag and isinstance(exc, yaml.constructor.ConstructorError):
            shown = tag.group(1).replace("tag:yaml.org,2002:", "!!", 1)
            raise UnsupportedTag(f"unsupported YAML tag {shown}: only plain YAML is read (the tag was not run)",
                                 line, col) from None
        if exc.context and "constructor" in type(exc).__name__.lower():
            problem = f"{exc.context}: {problem}" if exc.context else problem
        error = TooDeep if problem == "exceeded maximum nesting depth" else LoadError  # libyaml's limit
        raise error(f"invalid YAML: {problem}", line, col) from None
    except yaml.YAMLError as exc:
        raise LoadError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise TooDeep("invalid YAML: nesting too deep") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. `date: 2020-13-45`, `!!int x`
        raise LoadError(f"invalid YAML value: {exc}") from None


_UNKNOWN_TAG = re.compile(r"could not determine a constructor for the tag '(.*)'\Z", re.DOTALL)
_UNTAGGED_LOADER: Any = None


def load_yaml_untagged(text: str) -> Any:
    """The document read with every unsupported tag dropped (the tagged node read as plain YAML),
    or None when it cannot be read even so: what a tagged file was meant to be. Nothing is
    constructed from a tag. Aliases are not checked here: look at the top level only."""
    global _UNTAGGED_LOADER
    yaml, loader = _yaml()
    if _UNTAGGED_LOADER is None:
        class Untagged(loader):  # type: ignore[misc, valid-type]
            pass

        def plain(self: Any, _suffix: str, node: Any) -> Any:
            if isinstance(node, yaml.MappingNode):
                return self.construct_mapping(node)
            if isinstance(node, yaml.SequenceNode):
                return self.construct_sequence(node)
            return self.construct_scalar(node)

        Untagged.add_multi_constructor("", plain)  # the fallback for tags no constructor claims
        _UNTAGGED_LOADER = Untagged
    try:
        return yaml.load(text, Loader=_UNTAGGED_LOADER)  # a safe loader, tags read as plain YAML
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError):
        return None


def _check_expansion(data: Any, text: str) -> None:
    """Refuse a document that aliases make more than MAX_YAML_EXPANSION nodes larger when walked
    as a tree, or that contains itself (`&a [*a]`): every walk over it, `str()` included, would
    not end. Work is bounded by the distinct nodes, each visited once."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    added = 0  # nodes the walk meets again through an alias
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        items = list(node.values()) if isinstance(node, dict) else node
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(i), 1) for i in items)
            continue
        if key in sizes:
            added += sizes[key]
        elif key in on_path:
            raise LoadError("invalid YAML: an alias refers to a node that contains it (recursive data)",
                            *_first_alias(text))
        else:
            on_path.add(key)
            stack.append((node, True))
            stack.extend((i, False) for i in items if isinstance(i, (dict, list)))
        if added > MAX_YAML_EXPANSION:
            raise LoadError(f"YAML aliases expand the document by over {MAX_YAML_EXPANSION:,} nodes: refusing a "
                            "possible alias bomb", *_first_alias(text))


def _first_alias(text: str) -> tuple[int, int]:
    yaml, loader = _yaml()
    try:
        for token in yaml.scan(text, Loader=loader):
            if isinstance(token, yaml.AliasToken):
                return token.start_mark.line + 1, token.start_mark.column + 1
    except yaml.YAMLError:
        pass
    return 1, 1


def _check_node_count(text: str) -> None:
    """Refuse a document of more than MAX_YAML_NODES nodes, counted from the parser's events up
    to one past the limit."""
    yaml, loader = _yaml()
    nodes = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)
    count = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, nodes):
                count += 1
                if count > MAX_YAML_NODES:
                    mark = event.start_mark
                    raise TooLargeToCheck(f"a YAML document of over {MAX_YAML_NODES:,} values is too large to check "
                                    "(no conda environment or Azure ML configuration is near it)",
                                    mark.line + 1, mark.column + 1)
    except yaml.MarkedYAMLError:
        return  # the real load reports the syntax error with its position


def _check_aliases(text: str) -> None:
    """Count alias tokens (not just '*' characters) and refuse excessive expansion."""
    yaml, loader = _yaml()
    count = 0
    try:
        for token in yaml.scan(text, Loader=loader):
            if isinstance(token, yaml.AliasToken):
                count += 1
                if count > MAX_YAML_ALIASES:
                    mark = token.start_mark
                    raise LoadError(
                        f"more than {MAX_YAML_ALIASES} YAML aliases: refusing a possible alias bomb",
                        mark.line + 1,
                        mark.column + 1,
                    )
    except yaml.MarkedYAMLError:
        return  # the real load reports the syntax error with its position


def yaml_positions(text: str) -> dict[str, tuple[int, int]]:
    """YAML path (as a JSON pointer) -> (line, column) of the key, or of the sequence item."""
    yaml, loader = _yaml()
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
        return {"": (1, 1)}
    found: dict[str, tuple[int, int]] = {"": (1, 1)}
    if root is None:
        return found
    seen: set[int] = set()
    work = [(root, "")]
    while work:
        node, pointer = work.pop()
        if id(node) in seen:  # aliases share nodes; visit each once
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                child = join_pointer(pointer, key)
                found.setdefault(child, (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                work.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = join_pointer(pointer, index)
                found[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
                work.append((item, child))
    return found


# ------------------------------------------------------------- JSON files preflight reads back

def read_json_file(path: str, limit: int) -> Any:
    """A JSON file of preflight's own kind (a report to merge, a baseline) as data, read safely:
    a regular file of at most `limit` bytes (read_regular_file: OSError, FileTooLarge), strict
    JSON nested at most MAX_DEPTH deep (LoadError otherwise), so that what is done with it later
    (comparing, re-rendering) never runs out of stack."""
    raw = read_regular_file(path, limit)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None
    try:
        data = json.loads(text)
    except RecursionError:  # the C parser gives up on deep nesting before the stack does
        raise LoadError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise LoadError(f"invalid JSON: {exc}") from None
    if _nested_deeper_than(data, MAX_DEPTH):
        raise LoadError(f"nesting deeper than {MAX_DEPTH} levels")
    return data


def _nested_deeper_than(data: Any, limit: int) -> bool:
    work = [(data, 1)]
    while work:
        value, depth = work.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    return True
                work.append((child, depth + 1))
    return False
