"""The `--resolve` cache: resolutions by (requirements, Python, platform, indexes, uv version) and
the module list of each wheel by its hash, so that a rerun asks no index at all.

It follows the result cache's conventions (preflight.cache): a folder of its own,
`preflight-resolve` inside the cache folder, private (0700), used only while it belongs to the
user and nobody else can write it; files opened relative to the folder's descriptor without
following links, bounded in size, read only as JSON, replaced whole. A resolution is reused for
a day (an unpinned requirement may resolve differently tomorrow); a wheel's modules for ever
(its hash names its content). An index that could not be reached is never cached.
"""
from __future__ import annotations

import json
import os
import secrets
import stat
import time
from typing import Any

from .. import fs
from ..cache import MARKER, MARKER_NAME
from ..loaders import FileTooLarge, read_regular_file

FOLDER = "preflight-resolve"
RESOLUTION_MAX_AGE = 86400
MAX_FILE_BYTES = 16 << 20


def key_of(parts: Any) -> str:
    return fs.digest(json.dumps(parts, sort_keys=True).encode())


class Store:
    """Get and put JSON values by key; every failure is a miss (the check goes on uncached)."""

    def __init__(self, base: str | None):
        self.fd: int | None = None
        self.problem: str | None = None
        if base is None:
            return
        path = os.path.join(base, FOLDER)
        try:
            os.makedirs(base, exist_ok=True)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            self.problem = f"{path}: {exc.strerror or exc}"
            return
        st = os.fstat(fd)
        if (hasattr(os, "geteuid") and st.st_uid != os.geteuid()) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            os.close(fd)
            self.problem = f"{path} is not private to this user; the resolve cache is not used"
            return
        self.fd = fd
        self._create(MARKER_NAME, MARKER)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def get(self, kind: str, key: str, max_age: float | None = None) -> Any:
        if self.fd is None:
            return None
        name = f"{kind}-{key}.json"
        try:
            if max_age is not None:
                st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
                if time.time() - st.st_mtime > max_age:
                    return None
            return json.loads(read_regular_file(name, MAX_FILE_BYTES, dir_fd=self.fd, follow_links=False))
        except (OSError, FileTooLarge, ValueError, RecursionError):
            return None

    def put(self, kind: str, key: str, value: Any) -> None:
        if self.fd is None:
            return
        tmp = f".tmp-{secrets.token_hex(8)}.json"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=self.fd)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(value, f)
            os.replace(tmp, f"{kind}-{key}.json", src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError:
            try:
                os.unlink(tmp, dir_fd=self.fd)
            except OSError:
                pass

    def _create(self, name: str, data: bytes) -> None:
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=self.fd)
        except OSError:
            return
        with os.fdopen(fd, "wb") as f:
            f.write(data)
