"""The result cache: a file's findings are reused when nothing they were computed from changed.

One JSON file per scan setting (`<scan key>.json`). The scan key covers preflight's
version and code, Python and the parsers' versions, the working folder and every option that
changes findings (rules selected, --param, --parameters files and their content, ...). Each
entry, by file path, is `[key, text]`:

- key: the file's content digest, whether it was named explicitly, and the identity of the
  configuration that governs it (its path and values);
- text, JSON parsed only when the key matches: `deps`, every other look-up its check made
  (preflight.fs: files read such as parameter files, Bicep modules and linked templates,
  existence checks, folder listings, and the digest of the kept documents of the kinds it
  consulted, such as the configs that link to a conda file); and the file's findings and
  inline suppressions, as the filter stage left them.

A cached entry is used only if its key matches, it has the expected shape and types, and every
dependency still looks the same; the findings that depend on the whole scan (baseline, severity
overrides, the live check) are settled afterwards as for any file. Results with an internal
error (PF003) are never stored.

The cache lives outside the repository by default ($PREFLIGHT_CACHE_DIR, else
$XDG_CACHE_HOME/preflight, else ~/.cache/preflight): a cache committed to a repository could
otherwise hide findings from the CI scan of that repository. It is only ever read as JSON.

Whoever can write the cache decides what a scan reports, so the cache trusts only a folder of
its own: `preflight-results` inside the folder it is given (`--cache-dir infra` uses
`infra/preflight-results`, and never looks at anything else in `infra`). That folder is made
private (0700) and marked with a CACHEDIR.TAG of preflight's; it is used only while it belongs
to the user running the scan, is writable by nobody else and carries that marker (an empty
folder is adopted), otherwise the scan runs uncached with a warning. Inside it, every file is
opened relative to the folder's descriptor, without following links, as a regular file of
bounded size; writes go to a fresh temporary file renamed over the old one; the clean-up
removes only entry and temporary files of its own naming.
"""
from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import os
import re
import stat
import sys
import time
import weakref
from typing import TYPE_CHECKING, Any, Iterable

from . import __version__, fs
from .findings import Finding, Severity
from .loaders import FileTooLarge, read_regular_file

if TYPE_CHECKING:
    from .contract import Options

FORMAT = 2
MAX_AGE_DAYS = 30  # cache files of settings unused for this long are removed
_DEPENDENCY_MODULES = ("yaml", "packaging")  # parsers findings rest on

FOLDER = "preflight-results"  # the cache's own folder, inside the one it is given
MARKER_NAME = "CACHEDIR.TAG"  # the cachedir standard: backup tools skip the folder
MARKER = (b"Signature: 8a477f597d28d172789f06886806bc55\n"
          b"# preflight's result cache: only preflight writes here; deleting this folder is safe.\n")
GITIGNORE = b"# preflight's result cache: never commit it\n*\n"
MAX_FILE_BYTES = 256 << 20  # a cache file is read whole; that of a 4,400-template corpus is 5 MB
TEMP_MAX_AGE = 3600  # a temporary file older than this was left by a scan that was killed
_ENTRY_FILE = re.compile(r"[0-9a-f]{32}\.json")  # <scan key>.json (fs.digest)
_TEMP_FILE = re.compile(r"\.tmp-[0-9a-f]{16}\.json")
_DEPENDENCY_KINDS = fs.DEPENDENCY_KINDS
# Opening files relative to a folder's descriptor, without following links: without these (not
# on Windows) a folder could be swapped for another between its check and its use; no cache then.
_SAFE_PLATFORM = (os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd
                  and os.utime in os.supports_dir_fd and os.scandir in os.supports_fd
                  and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY"))


class CacheUnusable(Exception):
    """The cache folder cannot be trusted or opened: the scan goes on without it."""


def default_directory() -> str:
    if os.environ.get("PREFLIGHT_CACHE_DIR"):
        return os.environ["PREFLIGHT_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "preflight")


class ResultCache:
    def __init__(self, directory: str, scan_key: str, limit: int):
        """The cache of one scan setting in `directory`/FOLDER. CacheUnusable when that folder
        exists but is not one to trust; a folder that does not exist yet is made on save."""
        self.base = directory
        self.directory = os.path.join(directory, FOLDER)
        self.name = scan_key + ".json"
        self.limit = limit  # the scan's file size limit: the `read` dependency of a file's own bytes
        self.hits = 0
        self._changed = False
        self._folder = PrivateFolder.open(directory, create=False)
        self.entries = self._read()

    @classmethod
    def open(cls, directory: str, options: Any) -> "ResultCache | None":
        """The cache for this scan's settings; None when a setting has no stable identity or
        the platform cannot open files safely inside a folder. CacheUnusable: see __init__."""
        if not _SAFE_PLATFORM:
            return None
        try:
            key = scan_key(options)
        except (TypeError, ValueError):
            return None
        return cls(directory, key, options.max_file_bytes)

    # ------------------------------------------------------------------ entries

    @staticmethod
    def entry_key(explicit: bool, content_digest: str, config: Any, judged_by_callers: bool = False) -> str:
        """`judged_by_callers`: another scanned file deploys it, and its own check ran only the
        rules about its own text (preflight.filters.rules_for)."""
        return f"{content_digest}:{int(explicit)}{'c' if judged_by_callers else ''}:{config_identity(config)}"

    def lookup(self, path: str, key: str, verifier: fs.Verifier) -> tuple[list[Finding], list[Any] | None] | None:
        """(findings, suppressions) of `path` when its entry still holds, else None (a
        malformed entry included)."""
        stored = self.entries.get(path)
        if not isinstance(stored, list) or len(stored) != 2 or stored[0] != key or not isinstance(stored[1], str):
            return None
        try:
            entry = json.loads(stored[1])
            if not isinstance(entry, dict):
                return None
            deps = _dependencies_from(entry["deps"])
            findings = [_finding_from(row) for row in _list(entry["findings"])]
            suppressions = None if entry["suppressions"] is None else \
                [_suppression_from(s) for s in _list(entry["suppressions"])]
            if not verifier.unchanged(deps):
                return None
        except (KeyError, TypeError, ValueError, IndexError, RecursionError):
            return None
        self.hits += 1
        return findings, suppressions

    def put(self, path: str, explicit: bool, config: Any, deps: dict, findings: list[Finding],
            suppressions: list[Any] | None, judged_by_callers: bool = False) -> None:
        own = deps.pop(("read", os.path.abspath(path), self.limit), None)
        if not isinstance(own, str) or own.startswith("!") or any(f.rule == "PF003" for f in findings):
            self.entries.pop(path, None)
            return
        entry = {
            "deps": sorted(([kind, dep_path, arg, outcome] for (kind, dep_path, arg), outcome in deps.items()),
                           key=lambda d: (d[0], d[1], repr(d[2]))),
            "findings": [_finding_row(f) for f in findings],
            "suppressions": None if suppressions is None else [_suppression_row(s) for s in suppressions],
        }
        try:
            # Kept as text until looked up: a warm scan parses only the entries of the files it
            # scans, and holds each as one string rather than a tree of small objects.
            text = json.dumps(entry, separators=(",", ":"))
        except (TypeError, ValueError):  # evidence that is not plain JSON is not cached
            self.entries.pop(path, None)
            return
        self.entries[path] = [self.entry_key(explicit, own, config, judged_by_callers), text]
        self._changed = True

    # ------------------------------------------------------------------ the file

    def _read(self) -> dict[str, Any]:
        if self._folder is None:
            return {}
        try:
            data = json.loads(self._folder.read(self.name, MAX_FILE_BYTES))
        except (OSError, FileTooLarge, ValueError, RecursionError):  # a link, FIFO or device too
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), dict):
            return {}
        return data["entries"]

    def save(self, scanned: set[str]) -> str | None:
        """Write the entries (atomically); an error message if that was not possible. Entries of
        files that were not scanned this time stay, unless the file is gone."""
        try:
            return self._save(scanned)
        finally:
            if self._folder is not None:
                self._folder.close()
                self._folder = None

    def _save(self, scanned: set[str]) -> str | None:
        if not self._changed:
            if self.hits and self._folder is not None:
                self._folder.touch(self.name)  # in use: not stale (see PrivateFolder.remove_stale)
            return None
        for path in [p for p in self.entries if p not in scanned and not os.path.exists(p)]:
            del self.entries[path]
        # Written piece by piece, as `json.dumps` would write it whole: the entries already hold
        # the cache's text, and a whole copy of it (and its bytes) doubled a large scan's peak.
        pieces = json.JSONEncoder(separators=(",", ":")).iterencode({"format": FORMAT, "entries": self.entries})
        try:
            if self._folder is None:
                self._folder = PrivateFolder.open(self.base, create=True)
            assert self._folder is not None  # made when missing
            self._folder.write(self.name, (piece.encode("utf-8") for piece in pieces))
        except CacheUnusable as exc:
            return f"result cache not saved: {exc}"
        except OSError as exc:
            return f"cache not saved in {self.directory}: {exc.strerror or exc}"
        self._folder.remove_stale()
        return None


class PrivateFolder:
    """A cache's own folder, held open: every file in it is named relative to this descriptor,
    so a folder renamed or swapped after its check is never the one used. The result cache's is
    FOLDER; `--resolve` keeps its own beside it (preflight.resolve.store)."""

    def __init__(self, fd: int, path: str):
        self.fd = fd
        self.path = path
        self._close = weakref.finalize(self, os.close, fd)

    @classmethod
    def open(cls, base: str, create: bool, name: str = FOLDER) -> "PrivateFolder | None":
        """`base`/`name`, checked (see `_check`); None when it does not exist and `create` is
        False. OSError when it cannot be made, CacheUnusable when it is not one to trust."""
        path = os.path.join(base, name)
        if create:
            os.makedirs(base, exist_ok=True)
        try:
            base_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            if create:
                raise
            return None  # made, or reported, on save
        except OSError as exc:
            if create:
                raise
            raise CacheUnusable(f"{base}: {exc.strerror or exc}") from None
        try:
            if create:
                try:
                    os.mkdir(name, 0o700, dir_fd=base_fd)
                except FileExistsError:
                    pass
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=base_fd)
        except FileNotFoundError:
            if create:
                raise
            return None
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                if create:
                    raise
                raise CacheUnusable(f"{path}: {exc.strerror or exc}") from None
            raise CacheUnusable(f"{path} is not a folder (a link or a file); remove it or use another "
                                f"--cache-dir") from None
        finally:
            os.close(base_fd)
        folder = cls(fd, path)
        try:
            folder._check()
        except OSError as exc:  # marking it failed (a read-only folder, a full disk)
            folder.close()
            if create:
                raise
            raise CacheUnusable(f"{path}: {exc.strerror or exc}") from None
        except BaseException:
            folder.close()
            raise
        return folder

    def _check(self) -> None:
        """Trusted only if this user's, writable by nobody else, and marked as preflight's (an
        empty folder is marked): anyone else who could write here would decide the findings."""
        st = os.fstat(self.fd)
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            raise CacheUnusable(f"{self.path} belongs to another user (uid {st.st_uid}); use a --cache-dir of "
                                f"your own")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise CacheUnusable(f"{self.path} is writable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                                f"make it private (chmod 700) or use another --cache-dir")
        marker = self._marker()
        if marker is None:
            if set(os.listdir(self.fd)) - {MARKER_NAME, ".gitignore"}:
                raise CacheUnusable(f"{self.path} holds files preflight did not write (no {MARKER_NAME} of "
                                    f"preflight's); use another --cache-dir")
            self._create(MARKER_NAME, MARKER)
            self._create(".gitignore", GITIGNORE)
            marker = self._marker()
        if marker != MARKER:
            raise CacheUnusable(f"{self.path} is not preflight's cache (its {MARKER_NAME} is another's); "
                                f"use another --cache-dir")

    def _marker(self) -> bytes | None:
        try:
            return self.read(MARKER_NAME, 4096)
        except FileNotFoundError:
            return None
        except (OSError, FileTooLarge):
            return b""

    def _create(self, name: str, data: bytes) -> None:
        """A new file (never one already there, nor through a link); two scans may race here."""
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=self.fd)
        except FileExistsError:
            return
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def read(self, name: str, limit: int) -> bytes:
        """A file of the folder: a regular file, not a link, at most `limit` bytes."""
        return read_regular_file(name, limit, dir_fd=self.fd, follow_links=False)

    def write(self, name: str, data: bytes | Iterable[bytes]) -> None:
        """Replace `name` whole with `data` (bytes, or its pieces in order): a fresh temporary
        file renamed over it once complete (a link in its place is replaced, never written
        through)."""
        tmp = f".tmp-{os.urandom(8).hex()}.json"  # (secrets.token_hex would load OpenSSL, for hmac)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=self.fd)
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(data, bytes):
                    f.write(data)
                else:
                    for piece in data:
                        f.write(piece)
            os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=self.fd)
            except OSError:
                pass
            raise

    def touch(self, name: str) -> None:
        try:
            os.utime(name, dir_fd=self.fd, follow_symlinks=False)
        except (OSError, NotImplementedError):
            pass

    def remove_stale(self) -> None:
        """Each setting (options, working folder) has a file; those not used for a month go, and
        temporary files of scans that were killed. Only regular files of this user with the
        cache's own names: nothing else in the folder is the cache's to delete."""
        now = time.time()
        uid = os.geteuid() if hasattr(os, "geteuid") else None
        try:
            with os.scandir(self.fd) as entries:
                for entry in entries:
                    if _ENTRY_FILE.fullmatch(entry.name):
                        cutoff = now - MAX_AGE_DAYS * 86400
                    elif _TEMP_FILE.fullmatch(entry.name):
                        cutoff = now - TEMP_MAX_AGE
                    else:
                        continue
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode) and (uid is None or st.st_uid == uid) and st.st_mtime < cutoff:
                        os.unlink(entry.name, dir_fd=self.fd)
        except OSError:
            pass

    def close(self) -> None:
        self._close()


# --------------------------------------------------------------------------- identities


# Options that never change a file's findings: applied after the cache (the baseline), how the
# scan runs (progress, jobs, the cache itself), or a scan with them is not cached (providers).
UNKEYED_OPTIONS = frozenset({"baseline", "progress", "providers", "jobs", "cache_dir"})


def scan_key(options: Options) -> str:
    """What every file's findings depend on, besides the file and its own dependencies: every
    option but UNKEYED_OPTIONS, so that an option added to Options is keyed unless said
    otherwise. TypeError when an option has no stable identity (then nothing is cached)."""
    from .contract import REGISTRY

    limit = options.max_file_bytes
    parts: dict[str, Any] = {
        "format": FORMAT,
        "preflight": [__version__, _code_digest()],
        "python": sys.version,
        "dependencies": _dependency_versions(),
        "cwd": os.getcwd(),
        "rules": sorted(REGISTRY),
    }
    for option in dataclasses.fields(options):
        if option.name not in UNKEYED_OPTIONS:
            parts["option:" + option.name] = getattr(options, option.name)
    parts.update({
        "option:select": sorted(options.select) if options.select is not None else None,
        "option:ignore": sorted(options.ignore),
        "option:exclude": list(options.exclude),
        "option:parameter_files": [[p, fs.outcome_now("read", os.path.abspath(p), limit)]
                                   for p in options.parameter_files],
    })
    return fs.digest(json.dumps(parts, sort_keys=True, default=_identity).encode())


def config_identity(config: Any) -> Any:
    """A configuration as the file it came from and its values (Config.identity)."""
    return None if config is None else config.identity


def _identity(value: Any) -> Any:
    from .config import Config, Configs

    if isinstance(value, Config):
        return config_identity(value)
    if isinstance(value, Configs):  # each file's own configuration is part of its entry's key
        return ["configs", config_identity(value.override)]
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__, dataclasses.asdict(value)]
    raise TypeError(f"no stable identity for {type(value).__name__}")


def _code_digest() -> str:
    """preflight's own code as installed (size and time of each module): a changed rule in an
    editable install invalidates the cache as a new version would."""
    import preflight  # the rule pack (preflight.rules) included

    stats = []
    root = os.path.dirname(preflight.__file__ or "")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                stats.append(f"{os.path.relpath(os.path.join(dirpath, name), root)}:{st.st_size}:{st.st_mtime_ns}")
    return fs.digest("\n".join(stats).encode())


def _dependency_versions() -> list[Any]:
    """Each parser package as installed: its location, and the size and time of its
    `__init__` (an upgrade rewrites it). Found without importing anything: asking
    importlib.metadata for four versions took 13 ms, a tenth of a one-file run."""
    from importlib.util import find_spec

    out: list[Any] = []
    for name in _DEPENDENCY_MODULES:
        spec = find_spec(name)
        origin = spec.origin if spec is not None else None
        try:
            st = os.stat(origin) if origin else None
        except OSError:
            st = None
        out.append([name, origin, st.st_size if st else None, st.st_mtime_ns if st else None])
    return out


# --------------------------------------------------------------------------- rows


def _finding_row(f: Finding) -> list[Any]:
    return [f.rule, f.name, int(f.severity), f.path, f.pointer, f.message, f.fix, f.line, f.column,
            f.data or None, f.fingerprint]


def _finding_from(row: Any) -> Finding:
    """A stored finding, checked field by field: ValueError when it is not one."""
    rule, name, severity, path, pointer, message, fix, line, column, data, fingerprint = _list(row)
    if not (_all(str, rule, name, path, pointer, message, fingerprint) and _all(int, severity, line, column)
            and (fix is None or isinstance(fix, str)) and (data is None or isinstance(data, dict))):
        raise ValueError("not a finding")
    return Finding(rule, name, Severity(severity), path, pointer, message, fix, line, column, data or {}, fingerprint)


def _suppression_row(s: Any) -> dict[str, Any]:
    row = dataclasses.asdict(s)
    row["used"] = sorted(s.used)
    return row


def _suppression_from(row: Any) -> Any:
    """A stored inline suppression, checked field by field: ValueError when it is not one."""
    from .suppress import Suppression

    if not isinstance(row, dict):
        raise ValueError("not a suppression")
    selectors, lines, used = _list(row["selectors"]), _list(row["lines"]), _list(row["used"])
    if not (_all(str, row["scope"], row["prefix"], row["pointer"], *selectors, *used)
            and _all(int, row["line"], row["column"], *lines) and row["scope"] in ("lines", "file", "object")):
        raise ValueError("not a suppression")
    return Suppression(tuple(selectors), row["line"], row["column"], row["scope"], tuple(lines),
                       row["prefix"], row["pointer"], set(used))


def _dependencies_from(rows: Any) -> list[list[Any]]:
    """Stored look-ups for fs.Verifier, checked: a known kind, a path as text (never a number,
    which the os functions would take for a file descriptor), an argument None or a number."""
    for row in _list(rows):
        kind, path, arg, _ = _list(row)
        if kind not in _DEPENDENCY_KINDS or not isinstance(path, str) or not (arg is None or _all(int, arg)) \
                or (kind == "read" and arg is None):
            raise ValueError("not a dependency")
    return rows


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("not a list")
    return value


def _all(kind: type, *values: Any) -> bool:
    """Every value is of `kind` (a bool is not taken for an int)."""
    return all(isinstance(v, kind) and not isinstance(v, bool) for v in values)
