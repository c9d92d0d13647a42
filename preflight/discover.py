"""Discovery: the paths the user named -> the regular files worth classifying.

Never follows a symlinked directory (no loops), never opens anything that is not a regular
file (a FIFO or a device in the tree must not hang or block the scan), and always keeps a file
the user named explicitly (that is how pre-commit calls us), whatever its directory is called.
"""
from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass
from typing import Iterable, Iterator

from .documents import SUFFIXES

SKIP_DIRS = {
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs", "site-packages", ".terraform",
}


@dataclass(frozen=True)
class Candidate:
    path: str  # as displayed: relative paths stay relative
    explicit: bool  # named on the command line


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def is_virtualenv(dirpath: str) -> bool:
    return os.path.exists(os.path.join(dirpath, "pyvenv.cfg"))


def excluded(path: str, patterns: Iterable[str]) -> bool:
    """gitignore-like enough: a pattern matches the whole relative path or any one part of it."""
    norm = path.replace(os.sep, "/").lstrip("./") if path.startswith("./") else path.replace(os.sep, "/")
    parts = norm.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatch(norm, pattern) or fnmatch.fnmatch(norm, pattern + "/*"):
            return True
        if "/" not in pattern and any(fnmatch.fnmatch(part, pattern) for part in parts):
            return True
    return False


def discover(paths: Iterable[str], exclude: Iterable[str] = ()) -> Iterator[Candidate | Skipped]:
    """Yield candidates (regular files with a suffix we read) in a stable, sorted order."""
    exclude = tuple(exclude)
    for root in paths:
        try:
            st = os.stat(root)
        except OSError as exc:
            yield Skipped(root, f"cannot access: {exc.strerror or exc}")
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, exclude)
        elif stat.S_ISREG(st.st_mode):
            yield Candidate(root, explicit=True)
        else:
            yield Skipped(root, "not a regular file (FIFO, socket or device): not opened")


def _walk(root: str, exclude: tuple[str, ...]) -> Iterator[Candidate]:
    # os.walk with followlinks=False never descends into symlinked directories, so no loop.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        kept = []
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if name in SKIP_DIRS or os.path.islink(full) or is_virtualenv(full):
                continue
            if exclude and excluded(_display(full), exclude):
                continue
            kept.append(name)
        dirnames[:] = sorted(kept)
        for name in sorted(filenames):
            if not name.lower().endswith(SUFFIXES):
                continue
            full = _display(os.path.join(dirpath, name))
            if exclude and excluded(full, exclude):
                continue
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                try:
                    st = os.stat(full)  # a symlinked file is fine; a link to a FIFO is not
                except OSError:
                    continue
            if stat.S_ISREG(st.st_mode):
                yield Candidate(full, explicit=False)


def _display(path: str) -> str:
    return path[2:] if path.startswith("./") else path
