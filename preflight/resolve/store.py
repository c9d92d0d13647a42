"""The `--resolve` cache: resolutions by (requirements, Python, platform, indexes, uv version) and
the module list of each wheel by its hash, so that a rerun asks no index at all.

It is the result cache's kind of folder (`preflight.cache.PrivateFolder`): `preflight-resolve`
inside the cache folder, private (0700), marked as preflight's, used only while it belongs to the
user and nobody else can write it; files opened relative to the folder's descriptor without
following links, bounded in size, read only as JSON, replaced whole. A resolution is reused for
a day (an unpinned requirement may resolve differently tomorrow); a wheel's modules for ever
(its hash names its content). An index that could not be reached is never cached.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

from .. import fs
from ..cache import CacheUnusable, PrivateFolder
from ..loaders import FileTooLarge

FOLDER = "preflight-resolve"
RESOLUTION_MAX_AGE = 86400
MAX_FILE_BYTES = 16 << 20


def key_of(parts: Any) -> str:
    return fs.digest(json.dumps(parts, sort_keys=True).encode())


class Store:
    """Get and put JSON values by key; every failure is a miss (the check goes on uncached)."""

    def __init__(self, base: str | None):
        self.folder: PrivateFolder | None = None
        self.problem: str | None = None
        if base is None:
            return
        try:
            self.folder = PrivateFolder.open(base, create=True, name=FOLDER)
        except CacheUnusable as exc:
            self.problem = f"{exc}; the resolve cache is not used"
        except OSError as exc:
            self.problem = f"{os.path.join(base, FOLDER)}: {exc.strerror or exc}"

    def close(self) -> None:
        if self.folder is not None:
            self.folder.close()
            self.folder = None

    def get(self, kind: str, key: str, max_age: float | None = None) -> Any:
        if self.folder is None:
            return None
        name = f"{kind}-{key}.json"
        try:
            if max_age is not None:
                st = os.stat(name, dir_fd=self.folder.fd, follow_symlinks=False)
                if time.time() - st.st_mtime > max_age:
                    return None
            return json.loads(self.folder.read(name, MAX_FILE_BYTES))
        except (OSError, FileTooLarge, ValueError, RecursionError):
            return None

    def put(self, kind: str, key: str, value: Any) -> None:
        if self.folder is None:
            return
        try:
            self.folder.write(f"{kind}-{key}.json", json.dumps(value).encode())
        except OSError:
            pass
