"""Text from scanned files, made safe to print: every reporter passes paths, messages and fixes
(which quote package names, keys and values) through `printable` before its own format's escaping.

A scanned repository is untrusted. Printed as it is, its text could start a new line (which a CI
runner reads as a workflow command: `::error title=...::`, `::stop-commands::`), send terminal
escape sequences (ESC), reorder what is shown (bidirectional controls), or fail to encode at all
(a lone surrogate from a `"\\ud800"` JSON escape, a file name that is not UTF-8). What
`printable` returns is also text every report format can carry (XML 1.0 included).
"""
from __future__ import annotations

import re

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 and C1 controls and DEL: newlines, ESC
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional controls
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff"  # lone surrogates; U+DC80-U+DCFF are the bytes of a name that is not UTF-8
    "\ufeff\ufffe\uffff]"  # a byte order mark; the two noncharacters XML 1.0 cannot carry
    # The runner's older command form, `##[command]data`, is recognised anywhere in a line.
    "|##\\[")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match) -> str:
    found = match.group()
    if found == "##[":
        return "#\\x23["
    if found in _SHORT:
        return _SHORT[found]
    code = ord(found)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` as one line of printable, encodable characters: controls, line separators,
    bidirectional controls and lone surrogates written as `\\n`, `\\x1b`, `\\u202e`, `\\ud800`
    (an undecodable byte of a file name as `\\xff`), and `##[` as `#\\x23[`."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def line_start(line: str) -> str:
    """A line of a report that starts with a relative path (the text format's `path:line:col:`):
    prefixed with `./` when the path would make it read as a workflow command (`::` after any
    leading white space, as the runner trims it)."""
    return "./" + line if line.lstrip().startswith("::") else line
