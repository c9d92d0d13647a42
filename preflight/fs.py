"""Every look at the file system a check makes, recorded for the result cache.

A file's findings depend on its own bytes and on whatever else its check looked at: the
parameter files beside a template, a Bicep module, whether the conda file a config names
exists. Rules, models and front ends make such look-ups only through this module
(tests/test_cache.py holds them to it). While a check is recorded (`recording()`), each look-up
notes what it saw as a dependency; a later scan reuses the check's findings only if every
dependency still looks the same (`unchanged`).

A dependency is `(kind, absolute path, argument)` -> outcome, e.g.
`("read", "/repo/main.json", limit)` -> the content's digest or the error's name.

A path that file content names (a `-r` include, a Bicep module, a linked template, a config's
conda file or scoring script) is followed only through `confine`: a scanned repository is
untrusted, and must not make preflight open, and echo into a report, a file elsewhere on the
machine (a CI runner's token cache beside the checkout, /etc/passwd).
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from .digests import blake2b_128
from .loaders import FileTooLarge, read_regular_file

Dependency = tuple[str, str, Any]
_recording: list[dict[Dependency, Any]] = []  # innermost last: a model built during a file's check


def digest(raw: bytes) -> str:
    return blake2b_128(raw)


@contextmanager
def recording() -> Iterator[dict[Dependency, Any]]:
    """Collect the dependencies of what runs inside (outer recordings see them too)."""
    deps: dict[Dependency, Any] = {}
    _recording.append(deps)
    try:
        yield deps
    finally:
        _recording.pop()


def active() -> bool:
    """Whether a check is being recorded: a look-up whose outcome costs something to describe
    notes it only then."""
    return bool(_recording)


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


# ------------------------------------------------------------------------- confinement

_DRIVE = re.compile(r"^[A-Za-z]:")
_SYSTEM_DIRS = ("/proc", "/sys", "/dev")  # never followed, even when the root is `/`
_scan_roots: list[str] | None = None  # real paths: each folder the scan was given, and the working
# folder for files named directly; None outside a scan (the working folder)
_roots_by_folder: dict[str, str] = {}
# The real path of each content-named path `confine` checked, and of each folder above it and
# above a scanned file whose confinement root was asked for, during a scan. Safe to keep for
# the scan: the answer is what the first check saw and recorded as its dependency, which every
# later check records again; a link changed mid-scan could turn the answer stale, but so could
# it between the check and the read, which follows either way (the files are read as they are
# then, through `read`, which opens only regular files). Modules are named from many files
# (AVM's tests each call `../../../main.bicep`): 4 in 5 checks were of a path checked before.
_real_paths: dict[str, str] = {}
_repositories: dict[str, str | None] = {}  # folder -> the nearest folder at or above with a .git
# (named, base) -> (path, real path) as `confine` resolved them during a scan, or None when it
# refused the name before resolving it or could not resolve it; kept for the reason above (the
# real path is `_real_paths`'s): half the names a scan confines were confined before.
_resolved: dict[tuple[str, str], tuple[str, str] | None] = {}
_system_dirs_by_root: dict[str, tuple[str, ...]] = {}  # root -> the _SYSTEM_DIRS that overlap it


@contextmanager
def scanning(paths: Iterable[str]) -> Iterator[None]:
    """Confine content-named paths to the repositories (or else the folders) `paths` name."""
    global _scan_roots
    saved = _scan_roots, dict(_roots_by_folder), dict(_real_paths), dict(_repositories), dict(_resolved)
    roots = {os.path.realpath(p if os.path.isdir(p) else os.getcwd()) for p in paths}
    _scan_roots = sorted(roots, key=len)  # the outermost root that holds a file is its root
    _roots_by_folder.clear()
    _real_paths.clear()
    _repositories.clear()
    _resolved.clear()
    try:
        yield
    finally:
        _scan_roots = saved[0]
        _roots_by_folder.clear()
        _roots_by_folder.update(saved[1])
        _real_paths.clear()
        _real_paths.update(saved[2])
        _repositories.clear()
        _repositories.update(saved[3])
        _resolved.clear()
        _resolved.update(saved[4])


def confinement_root(folder: str) -> str:
    """The real path of the folder that paths named by a file in `folder` must stay inside:
    the repository (the nearest folder above with a `.git`, file or folder), else the scanned
    folder that holds it (the working folder for a file named directly), else `folder`."""
    root = _roots_by_folder.get(folder)  # (keys are absolute: a hit was given one)
    if root is None:
        folder = os.path.abspath(folder)
        root = _roots_by_folder.get(folder)
        if root is None:
            root = _roots_by_folder[folder] = _find_root(folder)
    if _recording:
        note("root", folder, None, root)
    return root


def _find_root(folder: str) -> str:
    repository = _repository_of(folder)
    if repository is not None:
        return _realpath(repository)
    real = _realpath(folder)
    for root in _scan_roots if _scan_roots is not None else [os.path.realpath(os.getcwd())]:
        if inside(real, root):
            return root
    return real


def _realpath(path: str) -> str:
    """`os.path.realpath` of an absolute, normalised path. During a scan, from the real path of
    its folder (kept in `_real_paths`) when it is not a link itself: one probe for a path whose
    folder was resolved before, not one for each folder above it (the folders and files of a
    repository share their parents)."""
    if _scan_roots is None or os.name != "posix":  # outside a scan nothing would clear it
        return os.path.realpath(path)
    pending = []
    here = path
    while here not in _real_paths:
        parent, name = os.path.split(here)
        if not name or parent == here or name in (".", ".."):
            _real_paths[here] = os.path.realpath(here)
            break
        pending.append((here, parent, name))
        here = parent
    for here, parent, name in reversed(pending):
        # A path that is no link resolves to its name in its folder's real path, as realpath
        # itself resolves it one name at a time (a name that is not there is no link either).
        _real_paths[here] = os.path.realpath(here) if os.path.islink(here) else os.path.join(_real_paths[parent], name)
    return _real_paths[path]


def _repository_of(folder: str) -> str | None:
    """The nearest folder at or above `folder` with a `.git`, None when there is none. The
    folders of a scan share their parents: each folder is looked at once per scan (kept in
    `_repositories`, for the same reason as `_real_paths`), not once per folder below it."""
    known = _repositories if _scan_roots is not None else {}  # outside a scan nothing would clear it
    walked = []
    here = folder
    while here not in known:
        walked.append(here)
        if os.path.exists(os.path.join(here, ".git")):
            known[here] = here
            break
        parent = os.path.dirname(here)
        if parent == here:
            known[here] = None
            break
        here = parent
    found = known[here]
    for walked_folder in walked:
        known[walked_folder] = found
    return found


def inside(path: str, root: str) -> bool:
    """Whether `path` is `root` or below it (both absolute and normalised)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def confine(named: str, base: str, scanned_folder: str | None = None) -> str | None:
    """The absolute path that `named`, a path written in a scanned file, resolves to from the
    folder `base`; None when it leaves the confinement root of the scanned file's folder
    (`scanned_folder`, by default `base`): an absolute, home (`~`) or drive path, a relative
    path that climbs out, or one whose symlinks lead out (the check follows them, so a link
    inside the repository to a file outside is refused too). A refused path is never opened."""
    key = (named, base)
    resolved: tuple[str, str] | None
    if _scan_roots is not None and key in _resolved:
        resolved = _resolved[key]
    else:
        resolved = _resolve(named, base)
        if _scan_roots is not None and os.path.isabs(base):  # (relative: from the working folder)
            _resolved[key] = resolved
    if resolved is None:
        return None
    path, real = resolved
    if _recording:
        note("realpath", path, None, real)
    root = confinement_root(scanned_folder if scanned_folder is not None else base)
    if not inside(real, root) or any(inside(real, d) for d in _system_dirs(root)):
        return None
    return path


def _resolve(named: str, base: str) -> tuple[str, str] | None:
    """(absolute path, real path) of a name written in a file in `base`, None for a name that
    is refused as written (absolute, home, drive) or that cannot be resolved."""
    if not named or "\0" in named or os.path.isabs(named) or named.startswith("~") or _DRIVE.match(named):
        return None
    path = os.path.normpath(os.path.join(os.path.abspath(base), named))
    try:
        return path, _realpath(path)
    except (OSError, ValueError):
        return None


def _system_dirs(root: str) -> tuple[str, ...]:
    """The system folders a real path inside `root` may be in: those inside `root` or holding it
    (a path inside both is in one that holds the other)."""
    found = _system_dirs_by_root.get(root)
    if found is None:
        found = _system_dirs_by_root[root] = tuple(d for d in _SYSTEM_DIRS if inside(d, root) or inside(root, d))
    return found


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
    if kind == "realpath":
        return os.path.realpath(path)
    if kind == "root":
        return confinement_root(path)
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


_FILE_SYSTEM = frozenset({"read", "exists", "isfile", "isdir", "listdir", "realpath", "root"})
# Every kind a recorded dependency may have: the file-system look-ups above, and the scan's own
# (kept linking documents, a path's configuration, the day of the run: see preflight.clock).
DEPENDENCY_KINDS = _FILE_SYSTEM | {"kept", "config", "today"}
