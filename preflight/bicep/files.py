"""Reading the files a Bicep file names (modules, `loadTextContent()`, `using`) safely."""
from __future__ import annotations

import os
import stat


def read_regular(path: str, limit: int) -> bytes | None:
    """A regular file's bytes (never blocking on a FIFO or a device), None when it cannot be
    read or is over `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            if sum(map(len, chunks)) > limit:
                return None
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)
