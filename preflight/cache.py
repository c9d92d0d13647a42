"""The result cache: a file's findings are reused when nothing they were computed from changed.

One JSON file per scan setting (`<cache dir>/<scan key>.json`). The scan key covers preflight's
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

A cached entry is used only if its key matches and every dependency still looks the same; the
findings that depend on the whole scan (baseline, severity overrides, the live check) are
settled afterwards as for any file. Results with an internal error (PF003) are never stored.

The cache lives outside the repository by default ($PREFLIGHT_CACHE_DIR, else
$XDG_CACHE_HOME/preflight, else ~/.cache/preflight): a cache committed to a repository could
otherwise hide findings from the CI scan of that repository. It is only ever read as JSON.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from typing import Any

from . import __version__, fs
from .findings import Finding, Severity

FORMAT = 2
MAX_AGE_DAYS = 30  # cache files of settings unused for this long are removed
_DEPENDENCY_MODULES = ("yaml", "packaging", "tree_sitter", "tree_sitter_bicep")  # parsers findings rest on


def default_directory() -> str:
    if os.environ.get("PREFLIGHT_CACHE_DIR"):
        return os.environ["PREFLIGHT_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "preflight")


class ResultCache:
    def __init__(self, directory: str, scan_key: str, limit: int):
        self.directory = directory
        self.file = os.path.join(directory, scan_key + ".json")
        self.limit = limit  # the scan's file size limit: the `read` dependency of a file's own bytes
        self.entries = self._read()
        self.hits = 0
        self._changed = False

    @classmethod
    def open(cls, directory: str, options: Any) -> "ResultCache | None":
        """The cache for this scan's settings; None when a setting has no stable identity."""
        try:
            key = scan_key(options)
        except (TypeError, ValueError):
            return None
        return cls(directory, key, options.max_file_bytes)

    # ------------------------------------------------------------------ entries

    @staticmethod
    def entry_key(explicit: bool, content_digest: str, config: Any) -> str:
        return f"{content_digest}:{int(explicit)}:{config_identity(config)}"

    def lookup(self, path: str, key: str, verifier: fs.Verifier) -> tuple[list[Finding], list[Any] | None] | None:
        """(findings, suppressions) of `path` when its entry still holds, else None."""
        stored = self.entries.get(path)
        if not isinstance(stored, list) or len(stored) != 2 or stored[0] != key or not isinstance(stored[1], str):
            return None
        try:
            entry = json.loads(stored[1])
            if not verifier.unchanged(entry["deps"]):
                return None
            findings = [_finding_from(row) for row in entry["findings"]]
            suppressions = None if entry["suppressions"] is None else \
                [_suppression_from(s) for s in entry["suppressions"]]
        except (KeyError, TypeError, ValueError, IndexError, RecursionError):
            return None
        self.hits += 1
        return findings, suppressions

    def put(self, path: str, explicit: bool, config: Any, deps: dict, findings: list[Finding],
            suppressions: list[Any] | None) -> None:
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
        self.entries[path] = [self.entry_key(explicit, own, config), text]
        self._changed = True

    # ------------------------------------------------------------------ the file

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.file, "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), dict):
            return {}
        return data["entries"]

    def save(self, scanned: set[str]) -> str | None:
        """Write the entries (atomically); an error message if that was not possible. Entries of
        files that were not scanned this time stay, unless the file is gone."""
        if not self._changed:
            if self.hits:
                try:
                    os.utime(self.file)  # in use: not stale (see _remove_stale)
                except OSError:
                    pass
            return None
        for path in [p for p in self.entries if p not in scanned and not os.path.exists(p)]:
            del self.entries[path]
        text = json.dumps({"format": FORMAT, "entries": self.entries}, separators=(",", ":"))
        try:
            _make_directory(self.directory)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(tmp, self.file)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            return f"cache not saved in {self.directory}: {exc.strerror or exc}"
        _remove_stale(self.directory)
        return None


def _remove_stale(directory: str) -> None:
    """Each setting (options, working folder) has a file; those not used for a month go."""
    import time

    cutoff = time.time() - MAX_AGE_DAYS * 86400
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".json") and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
    except OSError:
        pass


def _make_directory(directory: str) -> None:
    if os.path.isdir(directory):
        return
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, ".gitignore"), "w", encoding="utf-8") as f:
        f.write("# preflight's result cache: never commit it\n*\n")
    with open(os.path.join(directory, "CACHEDIR.TAG"), "w", encoding="utf-8") as f:
        f.write("Signature: 8a477f597d28d172789f06886806bc55\n# preflight's result cache\n")


# --------------------------------------------------------------------------- identities


def scan_key(options: Any) -> str:
    """What every file's findings depend on, besides the file and its own dependencies.
    TypeError when an option has no stable identity (then nothing is cached)."""
    from .engine import REGISTRY

    limit = options.max_file_bytes
    parts = {
        "format": FORMAT,
        "preflight": [__version__, _code_digest()],
        "python": sys.version,
        "dependencies": _dependency_versions(),
        "cwd": os.getcwd(),
        "rules": sorted(REGISTRY),
        "select": sorted(options.select) if options.select is not None else None,
        "ignore": sorted(options.ignore),
        "exclude": list(options.exclude),
        "params": options.params,
        "parameter_files": [[p, fs.outcome_now("read", os.path.abspath(p), limit)] for p in options.parameter_files],
        "max_file_bytes": limit,
        "extra": options.extra,
    }
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
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__, dataclasses.asdict(value)]
    raise TypeError(f"no stable identity for {type(value).__name__}")


def _code_digest() -> str:
    """preflight's own code as installed (size and time of each module): a changed rule in an
    editable install invalidates the cache as a new version would."""
    import preflight
    import preflight.rules

    stats = []
    for package in (preflight, preflight.rules):
        root = os.path.dirname(package.__file__ or "")
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


def _finding_from(row: list[Any]) -> Finding:
    rule, name, severity, path, pointer, message, fix, line, column, data, fingerprint = row
    return Finding(rule, name, Severity(severity), path, pointer, message, fix, line, column, data or {}, fingerprint)


def _suppression_row(s: Any) -> dict[str, Any]:
    row = dataclasses.asdict(s)
    row["used"] = sorted(s.used)
    return row


def _suppression_from(row: dict[str, Any]) -> Any:
    from .suppress import Suppression

    return Suppression(tuple(row["selectors"]), row["line"], row["column"], row["scope"], tuple(row["lines"]),
                       row["prefix"], row["pointer"], set(row["used"]))
