"""Long values from a scanned file, shortened for a message's first line (about 160
characters): both ends kept, the middle left out. Used by the rules and the front ends alike."""
from __future__ import annotations

import re

_LONG_QUOTED = re.compile(r"'([^'\n]{61,})'")


def clip(text: str, limit: int = 60) -> str:
    """A long value with its middle left out: both ends are what tell values apart (a URL's host
    and its last part, a path's root and file name)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def clip_quoted(message: str, limit: int = 60) -> str:
    """`message` with each single-quoted value longer than `limit` clipped (a long relative
    path, a registry reference)."""
    return _LONG_QUOTED.sub(lambda m: "'" + clip(m.group(1), limit) + "'", message)
