"""Reading the files a Bicep file names (modules, `loadTextContent()`, `using`) safely."""
from __future__ import annotations

from .. import fs


def read_regular(path: str, limit: int) -> bytes | None:
    """A regular file's bytes (never blocking on a FIFO or a device), None when it cannot be
    read or is over `limit` bytes: a module that cannot be read is an unknown, not an error."""
    return fs.read_or_none(path, limit)
