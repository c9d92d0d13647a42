"""Reading the files a Bicep file names (modules, `loadTextContent()`, `using`) safely."""
from __future__ import annotations

import os

from .. import fs


def named_path(rel: str, referrer: str, scanned: str | None = None) -> str | None:
    """The absolute path `rel`, written in the file `referrer`, names (relative to its folder);
    None when it leaves the repository of the scanned file (`scanned`, by default `referrer`):
    such a path is never read."""
    return fs.confine(rel, os.path.dirname(referrer), os.path.dirname(scanned or referrer))


def read_regular(path: str, limit: int) -> bytes | None:
    """A regular file's bytes (never blocking on a FIFO or a device), None when it cannot be
    read or is over `limit` bytes: a module that cannot be read is an unknown, not an error."""
    return fs.read_or_none(path, limit)
