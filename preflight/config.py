"""Configuration: `[tool.preflight]` in pyproject.toml, or a `.preflight.toml` (top-level keys).

Found upward from the scanned path (the nearest wins, as in ruff) or named with `--config`.
An unknown key or a value of the wrong type is a usage error (exit 2) that names the key.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_FILES = (".preflight.toml", "pyproject.toml")

# key -> expected type(s); the single source of truth for validation and for the docs.
SCHEMA: dict[str, Any] = {
    "select": list,
    "ignore": list,
    "extend-select": list,
    "exclude": list,
    "fail-on": str,
    "per-file-ignores": dict,
    "severity": dict,
    "max-file-size": int,
    "pin-exempt": dict,
    "load": list,
    "environment": list,
}


class ConfigError(Exception):
    """A configuration problem; the CLI prints it and exits 2."""


@dataclass
class Config:
    path: str | None = None  # the file it came from; None for defaults
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> str:
        """Paths in the config (globs, excludes) are relative to the config file's folder."""
        return os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def find_config(start: str) -> str | None:
    """The nearest config file among `start` and its ancestors."""
    here = os.path.abspath(start)
    if not os.path.isdir(here):
        here = os.path.dirname(here)
    while True:
        for name in CONFIG_FILES:
            candidate = os.path.join(here, name)
            if os.path.isfile(candidate):
                if name == "pyproject.toml" and not _has_tool_section(candidate):
                    continue
                return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def _has_tool_section(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return b"[tool.preflight" in f.read()
    except OSError:
        return False


def load_config(path: str | None) -> Config:
    if path is None:
        return Config()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if os.path.basename(path) == "pyproject.toml":
        data = data.get("tool", {}).get("preflight", {})
    validate(data, path)
    return Config(path, data)


def validate(data: dict[str, Any], path: str) -> None:
    for key, value in data.items():
        if key not in SCHEMA:
            known = ", ".join(sorted(SCHEMA))
            raise ConfigError(f"{path}: unknown key '{key}' (known keys: {known})")
        expected = SCHEMA[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: '{key}' must be a {expected.__name__}, not {type(value).__name__}")
        if expected is list and key in ("select", "ignore", "extend-select", "exclude"):
            bad = [v for v in value if not isinstance(v, str)]
            if bad:
                raise ConfigError(f"{path}: '{key}' must be a list of strings (found {bad[0]!r})")
