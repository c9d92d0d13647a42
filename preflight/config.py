"""Configuration: `[tool.preflight]` in pyproject.toml, or a `.preflight.toml` (top-level keys).

Each file is governed by the nearest configuration among its ancestors (as in ruff): a
`.preflight.toml` wins over a `pyproject.toml` in the same folder, and a `pyproject.toml` without
a `[tool.preflight]` table is passed over. Configurations do not inherit from one another.
`--config FILE` replaces discovery: that one file applies everywhere. Lookups are cached per
folder, so a scan of many files reads and validates each configuration once.

Validation uses JSON Schema (`SCHEMA`, imported lazily: only runs that find a configuration pay
for it). An unknown key or a value of the wrong type is a usage error (exit 2) naming the key.
Paths in a configuration (exclude, per-file-ignores, `[[load]]`, `[[environment]]`) are globs
relative to the folder the configuration file is in.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Sequence

from .loaders import FileTooLarge, read_regular_file

CONFIG_FILES = (".preflight.toml", "pyproject.toml")
SEVERITIES = ("error", "warning", "info")
FAIL_ON = ("error", "warning", "info", "never")

_SELECTOR = {"type": "string", "pattern": "^[A-Za-z]+[0-9]*$",
             "description": "a rule id (KV001) or an id prefix (KV, ENV00)"}
_SELECTORS = {"type": "array", "items": _SELECTOR}
_GLOB = {"type": "string", "minLength": 1}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_DAY = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}

# The single source of truth for validation and for the README's configuration table.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "select": {**_SELECTORS, "description": "only these rules (ids or prefixes); default: every rule"},
        "extend-select": {**_SELECTORS, "description": "rules added to `select`"},
        "ignore": {**_SELECTORS, "description": "rules never reported"},
        "per-file-ignores": {
            "type": "object", "additionalProperties": _SELECTORS,
            "description": "glob -> rules not reported for matching files",
        },
        "severity": {
            "type": "object", "propertyNames": _SELECTOR, "additionalProperties": {"enum": list(SEVERITIES)},
            "description": "rule id or prefix -> error | warning | info",
        },
        "fail-on": {"enum": list(FAIL_ON), "description": "lowest severity that makes the exit code 1 (default error)"},
        "exclude": {"type": "array", "items": _GLOB, "description": "globs of files and folders never scanned"},
        "max-file-size": {"type": "integer", "minimum": 1, "description": "bytes; larger files are skipped (PF002)"},
        "pin-exempt": {
            "type": "object", "additionalProperties": False,
            "properties": {"pip": _STRINGS, "conda": _STRINGS},
            "description": "packages that may float (not reported as unpinned)",
        },
        "load": {
            "type": "array",
            "description": "declared load of deployments, for the capacity check",
            "items": {
                "type": "object", "additionalProperties": False, "required": ["path", "rps"],
                # latency_ms / spike_pct: the same keys as spelt in the DEP rules' docs.
                "if": {"not": {"required": ["latency_ms"]}}, "then": {"required": ["latency-ms"]},
                "properties": {"path": _GLOB, "rps": _POSITIVE, "latency-ms": _POSITIVE, "latency_ms": _POSITIVE,
                               "spike-pct": {"type": "number", "minimum": 0},
                               "spike_pct": {"type": "number", "minimum": 0}},
            },
        },
        "deploy": {
            "type": "object", "additionalProperties": False,
            "description": "platform limits for the DEP rules",
            "properties": {
                "managed-max-request-timeout-ms": {"type": "integer", "minimum": 1,
                                                   "description": "default 180000"},
                "kubernetes-max-request-timeout-ms": {"type": "integer", "minimum": 1,
                                                      "description": "default: no limit"},
                "ha-min-instances": {"type": "integer", "minimum": 0,
                                     "description": "fewer managed instances is DEP024 (default 3; 0: off)"},
            },
        },
        "environment": {
            "type": "array",
            "description": "what conda environments are for, where no inference config or deployment says so",
            "items": {
                "type": "object", "additionalProperties": False, "required": ["path", "purpose"],
                "properties": {"path": _GLOB, "purpose": {"enum": ["v1-scoring", "v2-scoring", "training"]}},
            },
        },
        "today": {**_DAY, "description": "the day date-bound rules judge against (KV019), for reproducible "
                                          "runs; default: the real date (`--today` and $PREFLIGHT_TODAY win)"},
        "keyvault-api-version": {
            **_DAY, "description": "the Key Vault apiVersion `preflight fix` raises retiring ones to (KV019; "
                                   "default 2026-02-01, at least that, not a preview)"},
        "pinning": {
            "enum": ["exact", "compatible"],
            "description": "what counts as a pinned package (ENV004/ENV005): `exact` (default) one version; "
                           "`compatible` also `~=X.Y[.Z]` and `==X.Y.*` (`--pinning` wins)",
        },
        "pin-conda-minor": {
            "type": "boolean",
            "description": "`name=X.Y` counts as a pinned conda package (default true); false requires X.Y.Z "
                           "(python stays exempt at X.Y)",
        },
    },
}


class ConfigError(Exception):
    """A configuration problem; the CLI prints it and exits 2."""


# ------------------------------------------------------------------------------------ globs


class Glob:
    """A gitignore-like path pattern, relative to a configuration's folder.

    A pattern without a `/` (other than a trailing one) matches any single path component, so
    `generated` or `*.test.json` match at any depth; one with a `/` is anchored to the folder.
    `*` and `?` stay within a component, `**` spans components. A pattern that matches a folder
    matches everything under it.
    """

    def __init__(self, pattern: str):
        self.pattern = pattern
        text = pattern.strip().replace("\\", "/")
        while text.startswith("./"):
            text = text[2:]
        text = text.rstrip("/") or "**"
        self.anchored = "/" in text
        try:
            self.regex = re.compile(_glob_regex(text.lstrip("/")))
        except re.error as exc:
            raise ConfigError(f"invalid glob {pattern!r}: {exc}") from None

    def matches(self, relpath: str) -> bool:
        """`relpath`: posix, relative to the configuration's folder ('../x' when outside it)."""
        parts = [p for p in relpath.split("/") if p and p != "."]
        if self.anchored:
            if ".." in parts:
                return False
            return any(self.regex.fullmatch("/".join(parts[:i])) for i in range(len(parts), 0, -1))
        return any(self.regex.fullmatch(p) for p in parts if p != "..")


def _glob_regex(pattern: str) -> str:
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            end = pattern.find("]", j)
            if end < 0:
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1:end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


# ----------------------------------------------------------------------------- rule selection


def _longest(rule_id: str, selectors: Iterable[str]) -> int:
    """Length of the most specific selector matching `rule_id`; -1 when none does."""
    return max((len(s) for s in selectors if rule_id.startswith(s)), default=-1)


def _selected(rule_id: str, select: Sequence[str] | None, ignore: Iterable[str]) -> bool:
    """One layer of selection: the more specific selector wins; on a tie, `ignore` does.
    `select=None` means every rule, with the least specificity."""
    chosen = 0 if select is None else _longest(rule_id, select)
    if chosen < 0:
        return False
    return _longest(rule_id, ignore) < max(chosen, 1)


def rule_filter(select: Iterable[str] | None, ignore: Iterable[str], config: "Config | None" = None,
                path: str | None = None) -> Callable[[str], bool]:
    """Whether a rule is reported for a file, layered as in ruff: the configuration's
    select/extend-select/ignore; then the command line (`--select` replaces the configuration's
    selection, `--ignore` removes); then the configuration's per-file-ignores for `path`."""
    cli_select = sorted(s.upper() for s in select) if select is not None else None
    cli_ignore = [s.upper() for s in ignore]
    per_file = config.ignores_for(path) if config is not None and path is not None else []
    if cli_select is not None:
        def layered(rule_id: str) -> bool:
            return _selected(rule_id, cli_select, cli_ignore)
    elif config is not None:
        cfg_select, cfg_ignore = config.selection

        def layered(rule_id: str) -> bool:
            return _selected(rule_id, cfg_select, cfg_ignore) and _longest(rule_id, cli_ignore) < 0
    else:
        def layered(rule_id: str) -> bool:
            return _longest(rule_id, cli_ignore) < 0
    if not per_file:
        return layered
    return lambda rule_id: layered(rule_id) and _longest(rule_id, per_file) < 0


# ----------------------------------------------------------------------------- configuration


def relative_posix(path: str, folder: str) -> str:
    """`path` relative to `folder` with `/` separators ('../x' outside it; absolute on another drive)."""
    try:
        rel = os.path.relpath(os.path.abspath(path), folder)
    except ValueError:  # another drive (Windows)
        rel = os.path.abspath(path)
    return rel.replace(os.sep, "/")


@dataclass
class Config:
    path: str | None = None  # the file it came from; None for defaults
    values: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def root(self) -> str:
        """Paths in the config (globs, excludes) are relative to the config file's folder."""
        return os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()

    @cached_property
    def identity(self) -> str:
        """What the result cache compares (preflight.cache): the file it came from and its values."""
        import json

        from .fs import digest

        values = json.dumps(self.values, sort_keys=True, default=str)
        return json.dumps([self.path, digest(values.encode("utf-8", "surrogatepass"))])

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def relpath(self, path: str) -> str:
        """`path` relative to this configuration's folder, with `/` separators."""
        return relative_posix(path, self.root)

    @cached_property
    def selection(self) -> tuple[list[str] | None, list[str]]:
        select = self.values.get("select")
        chosen = None if select is None else [s.upper() for s in select + self.values.get("extend-select", [])]
        return chosen, [s.upper() for s in self.values.get("ignore", [])]

    @cached_property
    def _excludes(self) -> list[Glob]:
        return [Glob(p) for p in self.values.get("exclude", [])]

    @cached_property
    def _per_file_ignores(self) -> list[tuple[Glob, list[str]]]:
        return [(Glob(p), [s.upper() for s in ids]) for p, ids in self.values.get("per-file-ignores", {}).items()]

    @cached_property
    def _severities(self) -> list[tuple[str, str]]:
        return sorted(((k.upper(), v) for k, v in self.values.get("severity", {}).items()),
                      key=lambda kv: -len(kv[0]))

    def excluded(self, path: str) -> bool:
        return bool(self._excludes) and any(g.matches(self.relpath(path)) for g in self._excludes)

    def ignores_for(self, path: str) -> list[str]:
        """Rule selectors that per-file-ignores turn off for `path`."""
        if not self._per_file_ignores:
            return []
        rel = self.relpath(path)
        return [s for glob, ids in self._per_file_ignores if glob.matches(rel) for s in ids]

    def severity_for(self, rule_id: str) -> str | None:
        """The overriding severity of a rule (the most specific `[severity]` entry), if any."""
        return next((sev for sel, sev in self._severities if rule_id.startswith(sel)), None)

    def matching(self, key: str, path: str) -> list[dict[str, Any]]:
        """The `[[load]]` or `[[environment]]` entries whose `path` glob matches `path`."""
        entries = self.values.get(key, [])
        if not entries:
            return []
        rel = self.relpath(path)
        return [e for e in entries if Glob(e["path"]).matches(rel)]


# Folders whose configuration is remembered (each entry a path and a reference, ~150 bytes). A
# scan looks every folder up in each of its passes (exclude while reading, rule selection while
# checking, severities at the end): below the number of folders scanned, each pass looked them
# all up again, two file-system probes a folder (the corpus: 2,281 folders were probed 4,858
# times, now 2,284).
_FOLDERS_KEPT = 4096


class Configs:
    """The configuration of each file: `override` (from `--config`) everywhere, or else the
    nearest one among the file's ancestors, looked up once per folder."""

    def __init__(self, override: str | None = None):
        self.override = load_config(override) if override else None
        self._by_dir: dict[str, Config] = {}
        self._by_file: dict[str, Config] = {}
        self._by_parent: dict[str, Config] = {}  # a path's folder as written -> its configuration
        # One object per configuration for the whole scan (the folder maps above are bounded):
        # the filter stage and the result cache remember things by configuration.
        self._default = Config()

    def for_file(self, path: str) -> Config:
        if self.override is not None:
            return self.override
        parent = os.path.dirname(path)
        found = self._by_parent.get(parent)
        if found is None:
            if len(self._by_parent) >= _FOLDERS_KEPT:  # bounded: scans walk folder by folder
                self._by_parent.clear()
            found = self._by_parent[parent] = self.for_dir(os.path.dirname(os.path.abspath(path)))
        return found

    def for_dir(self, directory: str) -> Config:
        if self.override is not None:
            return self.override
        here = os.path.abspath(directory)
        if len(self._by_dir) >= 2 * _FOLDERS_KEPT:
            self._by_dir.clear()  # each Config stays the same object: _by_file keeps it
        visited = []
        found: Config | None = None
        while True:
            if here in self._by_dir:
                found = self._by_dir[here]
                break
            visited.append(here)
            located = _config_in(here)
            if located is not None:
                found = self._load(*located)
                break
            parent = os.path.dirname(here)
            if parent == here:
                found = self._default
                break
            here = parent
        for d in visited:
            self._by_dir[d] = found
        return found

    def used_for(self, path: str) -> Config:
        """`for_file(path)` for a check that reads another file's configuration: the result
        cache records it, so that the check is redone when that configuration changes."""
        from . import fs

        config = self.for_file(path)
        if fs.active():
            fs.note("config", os.path.abspath(path), None, config.identity)
        return config

    def for_path(self, path: str) -> Config:
        """A folder's configuration, or a file's (its folder's)."""
        return self.for_dir(path) if os.path.isdir(path) else self.for_file(path)

    def excluded(self, path: str) -> bool:
        return self.for_file(path).excluded(path)

    def _load(self, path: str, section: dict[str, Any] | None) -> Config:
        if path not in self._by_file:
            self._by_file[path] = load_config(path) if section is None else _config(path, section, _PYPROJECT)
        return self._by_file[path]


_PYPROJECT = "tool.preflight"


def _config_in(directory: str) -> tuple[str, Any] | None:
    """(the configuration file in `directory`, its `[tool.preflight]` table if it is a
    pyproject.toml, already parsed), or None."""
    for name in CONFIG_FILES:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            if name != "pyproject.toml":
                return candidate, None
            section = _tool_section(candidate)
            if section is not None:
                return candidate, section
    return None


def _tool_section(path: str) -> dict[str, Any] | None:
    """`[tool.preflight]` of a pyproject.toml, or None. A pyproject.toml that never mentions
    preflight is not parsed at all."""
    try:
        raw = _read(path)
    except OSError:
        return None
    if b"preflight" not in raw:
        return None
    data = _parse_toml(raw, path)
    tool = data.get("tool")
    return tool.get("preflight") if isinstance(tool, dict) else None


MAX_CONFIG_BYTES = 16 * 1024 * 1024


def _read(path: str) -> bytes:
    """A configuration file's bytes: a regular file only (a FIFO or a device named with --config,
    or put where a configuration is looked for, must not hang the run), and not a huge one."""
    try:
        return read_regular_file(path, MAX_CONFIG_BYTES)
    except FileTooLarge as exc:
        raise ConfigError(f"{path}: {exc.size:,} bytes, over the {MAX_CONFIG_BYTES:,}-byte limit "
                          "for a configuration file") from None


def _parse_toml(raw: bytes, path: str) -> dict[str, Any]:
    # Imported here: most scans find no configuration file.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays and inline tables
        raise ConfigError(f"{path}: invalid TOML: arrays or inline tables nested too deep") from None


def load_config(path: str | None) -> Config:
    if path is None:
        return Config()
    try:
        raw = _read(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    data = _parse_toml(raw, path)
    if os.path.basename(path) != "pyproject.toml":
        return _config(path, data, "")
    tool = data.get("tool", {})
    return _config(path, tool.get("preflight", {}) if isinstance(tool, dict) else {}, _PYPROJECT)


MAX_CONFIG_DEPTH = 32  # tables and arrays; the deepest valid configuration has 3 levels


def _config(path: str, data: Any, where: str) -> Config:
    if _deeper_than(data, MAX_CONFIG_DEPTH):  # validation, and its messages, would recurse that deep
        raise ConfigError(f"{path}: {where or 'the configuration'} has tables or arrays nested more than "
                          f"{MAX_CONFIG_DEPTH} levels deep")
    validate(data, path, where)
    try:  # every glob compiles, so a bad one is reported now, naming this file
        for pattern in _globs(data):
            Glob(pattern)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return Config(path, data)


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether tables and arrays nest more than `limit` levels (walked without recursion:
    dotted keys such as `[a.b.c...]` make any depth without a single bracket)."""
    level: list[Any] = [data]
    for _ in range(limit + 1):
        level = [child for node in level if isinstance(node, (dict, list))
                 for child in (node.values() if isinstance(node, dict) else node)]
        if not level:
            return False
    return True


def _globs(data: dict[str, Any]) -> Iterable[str]:
    yield from data.get("exclude", [])
    yield from data.get("per-file-ignores", {})
    for key in ("load", "environment"):
        yield from (entry["path"] for entry in data.get(key, []))


def validate(data: Any, path: str, where: str = "") -> None:
    """Raise ConfigError naming every offending key (checked against SCHEMA with jsonschema)."""
    import jsonschema  # lazily: only runs that find a configuration pay for it

    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if not problems:
        return
    lines = [_describe(e, where) for e in problems]
    raise ConfigError(f"{path}: " + "\n  ".join(dict.fromkeys(lines)))


def _describe(error: Any, where: str) -> str:
    key = where
    for part in error.absolute_path:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[\w-]+", part) else f'"{part}"'
            key += f".{name}" if key else name
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = ", ".join(sorted(error.schema.get("properties", {})))
        names = ", ".join(f"'{key}.{k}'" if key else f"'{k}'" for k in extra)
        return f"unknown key {names}" + (f" (known keys: {known})" if known else "")
    if error.validator == "required":
        return f"'{key}' is missing {error.message.split(' is a required')[0]}"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        article = "an" if expected[0] in "aeiou" else "a"
        return f"'{key}' must be {article} {expected}, not {_toml_type(error.instance)}"
    if error.validator == "enum":
        return f"'{key}' must be one of {', '.join(map(str, error.validator_value))}, not {error.instance!r}"
    if error.validator == "pattern" and error.validator_value == _DAY["pattern"]:
        return f"'{key}': {error.instance!r} is not a date (YYYY-MM-DD)"
    if error.validator == "pattern":
        return f"'{key}': {error.instance!r} is not a rule id or prefix (like KV001 or ENV)"
    return f"'{key}': {error.message}"


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__
