"""Every look at the file system a check makes, recorded for the result cache.

A file's findings depend on its own bytes and on whatever else its check looked at: the
parameter files beside a template, a Bicep module, whether the conda file a config names
exists. Rules, models and front ends make such look-ups only through this module
(tests/test_cache.py holds them to it). While a check is recorded (`recording()`), each look-up
notes what it saw as a dependency; a later scan reuses the check's findings only if every
dependency still looks the same (`unchanged`).

A dependency is `(kind, absolute path, argument)` -> outcome, e.g.
`("read", "/repo/main.json", limit)` -> the content's digest or the error's name.
"""
from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from .loaders import FileTooLarge, read_regular_file

Dependency = tuple[str, str, Any]
_recording: list[dict[Dependency, Any]] = []  # innermost last: a model built during a file's check


def digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


@contextmanager
def recording() -> Iterator[dict[Dependency, Any]]:
    """Collect the dependencies of what runs inside (outer recordings see them too)."""
    deps: dict[Dependency, Any] = {}
    _recording.append(deps)
    try:
        yield deps
    finally:
        _recording.pop()


def note(kind: str, path: str, arg: Any, outcome: Any) -> None:
    """Record a look-up made by other means (a document the scan already holds)."""
    for deps in _recording:
        deps.setdefault((kind, path, arg), outcome)


def replay(deps: dict[Dependency, Any]) -> None:
    """Record again what a memoised model depended on, for each check that uses it."""
    for deps_now in _recording:
        for key, outcome in deps.items():
            deps_now.setdefault(key, outcome)


# ------------------------------------------------------------------------- the look-ups


def read(path: str, limit: int) -> bytes:
    """A regular file's bytes (loaders.read_regular_file): OSError, FileTooLarge."""
    if not _recording:
        return read_regular_file(path, limit)
    try:
        raw = read_regular_file(path, limit)
    except (OSError, FileTooLarge) as exc:
        note("read", os.path.abspath(path), limit, "!" + type(exc).__name__)
        raise
    note("read", os.path.abspath(path), limit, digest(raw))
    return raw


def read_or_none(path: str, limit: int) -> bytes | None:
    """A file's bytes, or None when it cannot be read or is over `limit` bytes."""
    try:
        return read(path, limit)
    except (OSError, ValueError, FileTooLarge):
        return None


def exists(path: str) -> bool:
    return _probe("exists", path, os.path.exists)


def isfile(path: str) -> bool:
    return _probe("isfile", path, os.path.isfile)


def isdir(path: str) -> bool:
    return _probe("isdir", path, os.path.isdir)


def listdir(path: str) -> list[str]:
    """A folder's entries (OSError as os.listdir)."""
    if not _recording:
        return os.listdir(path)
    try:
        names = os.listdir(path)
    except OSError as exc:
        note("listdir", os.path.abspath(path), None, "!" + type(exc).__name__)
        raise
    note("listdir", os.path.abspath(path), None, _names_digest(names))
    return names


def _probe(kind: str, path: str, test: Callable[[str], bool]) -> bool:
    result = test(path)
    if _recording:
        note(kind, os.path.abspath(path), None, result)
    return result


def _names_digest(names: list[str]) -> str:
    return digest("\0".join(sorted(names)).encode("utf-8", "surrogateescape"))


# ------------------------------------------------------------------------- checking again


def outcome_now(kind: str, path: str, arg: Any) -> Any:
    """What the look-up `(kind, path, arg)` sees now, as `note` would have recorded it."""
    if kind == "read":
        try:
            return digest(read_regular_file(path, arg))
        except (OSError, FileTooLarge) as exc:
            return "!" + type(exc).__name__
    if kind == "listdir":
        try:
            return _names_digest(os.listdir(path))
        except OSError as exc:
            return "!" + type(exc).__name__
    test = {"exists": os.path.exists, "isfile": os.path.isfile, "isdir": os.path.isdir}.get(kind)
    return test(path) if test is not None else None


class Verifier:
    """Whether recorded dependencies still hold, each look-up made once per scan. Kinds other
    than the file-system ones (the scan's kept documents) are answered by `others`."""

    def __init__(self, others: Callable[[str, str, Any], Any]):
        self.others = others
        self._seen: dict[Dependency, Any] = {}

    def unchanged(self, deps: list[list[Any]]) -> bool:
        for kind, path, arg, outcome in deps:
            key = (kind, path, arg)
            if key not in self._seen:
                self._seen[key] = outcome_now(kind, path, arg) if kind in _FILE_SYSTEM else self.others(kind, path, arg)
            if self._seen[key] != outcome:
                return False
        return True


_FILE_SYSTEM = frozenset({"read", "exists", "isfile", "isdir", "listdir"})
