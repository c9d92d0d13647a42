"""The conda environment model: a conda file's dependencies, parsed once.

Conda entries are MatchSpecs (`numpy=1.21.2`, `conda-forge::numpy 1.21.2 py39_0`,
`numpy[version='>=1.2']`); pip entries are PEP 508 requirements parsed with `packaging`, with pip
options (`-r`, `--index-url`, ...) and local or VCS references kept apart. Every entry keeps the
JSON pointer of its place in the file, so findings point at the package's line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

_TEMPLATED = re.compile(r"\{\{.*?\}\}|\$\{.*?\}|<[a-z_-]+>", re.I)
_FULL_COMMIT = re.compile(r"@[0-9a-f]{40}(?:$|#)")
_MATCHSPEC_NAME = re.compile(r"^([A-Za-z0-9_.\-]+)")


@dataclass
class CondaPackage:
    """One conda MatchSpec from `dependencies`."""

    pointer: str
    text: str
    name: str  # canonical (lower case, '-' separators)
    channel: str | None
    version: str | None  # the version part as written (`1.21.2`, `>=1.2,<2`, `1.11.*`)
    build: str | None
    templated: bool = False

    @property
    def pinned(self) -> bool:
        """DESIGN pinning policy: `=X.Y.Z`, `==X[.Y]`, or a version plus build string."""
        if self.templated:
            return True
        v = self.version
        if not v:
            return False
        if v.startswith("=="):
            rest = v[2:]
            return bool(rest) and not any(c in rest for c in "*|,<>!~")
        if any(c in v for c in "*|,<>!~=") or v.startswith("="):
            return False
        if self.build:
            return True
        # `=1.11` is fuzzy (1.11.*): pinned needs at least three components.
        return len(v.split(".")) >= 3


@dataclass
class PipRequirement:
    """One line of the `pip:` list (or of a `-r` file)."""

    pointer: str
    text: str
    kind: str  # "requirement" | "option" | "reference" (a URL, VCS or local path without a name)
    name: str | None = None  # canonical
    specifier: SpecifierSet | None = None
    url: str | None = None
    marker: str | None = None
    extras: frozenset[str] = frozenset()
    templated: bool = False
    source: str | None = None  # the `-r` file it came from, when not the conda file itself

    @property
    def pinned(self) -> bool:
        """DESIGN pinning policy: `==` without a wildcard, `===`, or a direct URL reference
        (a VCS URL only with a full commit hash)."""
        if self.kind != "requirement" or self.templated:
            return True
        if self.url:
            if self.url.startswith(("git+", "hg+", "svn+", "bzr+")):
                return bool(_FULL_COMMIT.search(self.url))
            return True
        specs = list(self.specifier or ())
        return any(
            (s.operator == "==" and "*" not in s.version) or s.operator == "===" for s in specs
        )


@dataclass
class CondaEnvironment:
    """The model of one environment: its conda packages and its pip requirements."""

    base: str  # pointer of the environment mapping inside the document ("" for a conda file)
    name: str | None
    channels: list[str]
    conda: list[CondaPackage] = field(default_factory=list)
    pip: list[PipRequirement] = field(default_factory=list)
    pip_pointers: list[str] = field(default_factory=list)  # each `pip:` mapping
    bad_items: list[tuple[str, Any]] = field(default_factory=list)  # (pointer, value)

    def conda_package(self, name: str) -> CondaPackage | None:
        name = canonicalize_name(name)
        return next((p for p in self.conda if p.name == name), None)

    def pip_requirements(self, name: str) -> list[PipRequirement]:
        name = canonicalize_name(name)
        return [r for r in self.pip if r.name == name]


def parse_matchspec(text: str, pointer: str) -> CondaPackage:
    spec = text.strip()
    templated = bool(_TEMPLATED.search(spec))
    channel = None
    if "::" in spec:
        channel, spec = spec.split("::", 1)
    version = build = None
    bracket = None
    if "[" in spec and spec.endswith("]"):
        spec, bracket = spec[: spec.index("[")], spec[spec.index("[") + 1 : -1]
    parts = spec.split()
    if len(parts) > 1:  # the space form: name version [build]
        name = parts[0]
        version = parts[1]
        build = parts[2] if len(parts) > 2 else None
    else:
        m = _MATCHSPEC_NAME.match(spec)
        name = m.group(1) if m else spec
        rest = spec[len(name):]
        if rest.startswith("=") and not rest.startswith("=="):
            pieces = rest[1:].split("=", 1)
            version = pieces[0]
            build = pieces[1] if len(pieces) > 1 and pieces[1] else None
        elif rest:
            version = rest
    if bracket:
        fields = dict(re.findall(r"(\w+)\s*=\s*['\"]?([^'\",]*)['\"]?", bracket))
        version = version or fields.get("version")
        build = build or fields.get("build")
    return CondaPackage(pointer, text, canonicalize_name(name), channel, version or None, build, templated)


def parse_pip_line(text: str, pointer: str, source: str | None = None) -> PipRequirement:
    line = text.split(" #", 1)[0].strip()
    templated = bool(_TEMPLATED.search(line))
    if not line or line.startswith("-"):
        return PipRequirement(pointer, text, "option", source=source)
    try:
        req = Requirement(_TEMPLATED.sub("0", line) if templated else line)
    except InvalidRequirement:
        return PipRequirement(pointer, text, "reference", templated=templated, source=source)
    return PipRequirement(
        pointer, text, "requirement", canonicalize_name(req.name), req.specifier, req.url,
        str(req.marker) if req.marker else None, frozenset(req.extras), templated, source,
    )


def build_environment(data: Any, base: str = "") -> CondaEnvironment | None:
    """The model of a conda mapping (a conda file's top level, or one inline in another file)."""
    if not isinstance(data, dict):
        return None
    deps = data.get("dependencies")
    channels = [c for c in data.get("channels") or [] if isinstance(c, str)] if isinstance(
        data.get("channels"), list) else []
    name = data.get("name") if isinstance(data.get("name"), str) else None
    env = CondaEnvironment(base, name, channels)
    if not isinstance(deps, list):
        return env
    for index, item in enumerate(deps):
        pointer = f"{base}/dependencies/{index}"
        if isinstance(item, str):
            env.conda.append(parse_matchspec(item, pointer))
        elif isinstance(item, dict) and "pip" in item:
            env.pip_pointers.append(f"{pointer}/pip")
            pips = item.get("pip")
            if not isinstance(pips, list):
                env.bad_items.append((f"{pointer}/pip", pips))
                continue
            for j, line in enumerate(pips):
                if isinstance(line, str):
                    env.pip.append(parse_pip_line(line, f"{pointer}/pip/{j}"))
                else:
                    env.bad_items.append((f"{pointer}/pip/{j}", line))
        else:
            env.bad_items.append((pointer, item))
    return env
