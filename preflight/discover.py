"""Discovery: the paths the user named -> the regular files worth classifying.

Never follows a symlinked directory (no loops), never opens anything that is not a regular
file (a FIFO or a device in the tree must not hang or block the scan), and always keeps a file
the user named explicitly (that is how pre-commit calls us), whatever its directory is called.

Each file is yielded once, however many paths reach it (named twice, a folder and a file in it,
`./x` and `x`, a link and its target): at its first appearance in command-line order, by its
identity on disk (device and inode). A folder or file the walk cannot look at is yielded as
`Skipped`, so that the scan reports it instead of leaving it out without a word; a link to
nothing (dangling, or a loop of links) is not a file and is passed over.
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


# slots: a scan holds one per file (and sends each to a worker, which would give every one a
# `__dict__` of its own as it is pickled).
@dataclass(frozen=True, slots=True)
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
    """Yield candidates (regular files with a suffix we read) in a stable, sorted order, and the
    paths that could not be looked at. A file named on the command line is `explicit` wherever
    it first appears."""
    exclude = tuple(exclude)
    roots = [(root, _stat(root)) for root in paths]
    named = {_identity(st) for _, st in roots if isinstance(st, os.stat_result) and stat.S_ISREG(st.st_mode)}
    seen: set[tuple[int, int]] = set()  # files and folders already yielded or walked
    skipped: set[str] = set()
    for item in _discover(roots, exclude, named, seen):
        if isinstance(item, Skipped):
            key = os.path.normpath(os.path.abspath(item.path))
            if key in skipped:
                continue
            skipped.add(key)
        yield item


def _discover(roots: list[tuple[str, os.stat_result | OSError]], exclude: tuple[str, ...],
              named: set[tuple[int, int]], seen: set[tuple[int, int]]) -> Iterator[Candidate | Skipped]:
    for root, st in roots:
        if isinstance(st, OSError):
            yield Skipped(root, f"cannot access: {st.strerror or st}")
        elif stat.S_ISDIR(st.st_mode):
            if _identity(st) not in seen:
                seen.add(_identity(st))
                yield from _walk(root, exclude, named, seen)
        elif stat.S_ISREG(st.st_mode):
            if _identity(st) not in seen:
                seen.add(_identity(st))
                yield Candidate(root, explicit=True)
        else:
            yield Skipped(root, "not a regular file (FIFO, socket or device): not opened")


def _stat(path: str) -> os.stat_result | OSError:
    try:
        return os.stat(path)
    except OSError as exc:
        return exc


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _walk(root: str, exclude: tuple[str, ...], named: set[tuple[int, int]],
          seen: set[tuple[int, int]]) -> Iterator[Candidate | Skipped]:
    """os.walk's top-down order (a folder's files by name, then its folders by name, depth
    first), from one listing per folder: the types of its entries come with the listing, so a
    folder costs one system call and a file one lstat (its identity on disk)."""
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except FileNotFoundError:
            continue  # removed since its parent was listed
        except OSError as exc:
            yield Skipped(_display(folder), f"cannot list folder: {exc.strerror or exc}")
            continue
        if folder != root and any(entry.name == "pyvenv.cfg" for entry in entries) \
                and is_virtualenv(folder):
            continue  # a virtualenv's packages are not the project's files
        subfolders, files = [], []
        for entry in entries:
            try:
                if entry.is_dir():
                    if not entry.is_symlink():  # never into a symlinked folder: no loops
                        subfolders.append(entry.name)
                    continue
            except OSError:
                pass
            files.append(entry.name)
        shown = _display(folder if folder.endswith("/") else folder + "/")  # (os.path.join's)
        for name in sorted(files):
            if not name.lower().endswith(SUFFIXES):
                continue
            full = shown + name
            if exclude and excluded(full, exclude):
                continue
            try:
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    st = os.stat(full)  # a symlinked file is fine; a link to a FIFO is not
            except PermissionError as exc:  # a folder that can be listed but not entered
                yield Skipped(full, f"cannot access: {exc.strerror or exc}")
                continue
            except OSError:
                continue  # gone since the folder was listed, a dangling link or a loop of links
            if stat.S_ISREG(st.st_mode) and _identity(st) not in seen:
                seen.add(_identity(st))
                yield Candidate(full, explicit=_identity(st) in named)
        kept = []
        for name in sorted(subfolders):
            full = os.path.join(folder, name)
            if name in SKIP_DIRS:
                continue
            if exclude and excluded(_display(full), exclude):
                continue
            kept.append(full)
        folders.extend(reversed(kept))


def _display(path: str) -> str:
    return path[2:] if path.startswith("./") else path
