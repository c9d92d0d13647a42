"""The conda environment model: a conda file's dependencies, parsed once.

Conda entries are MatchSpecs (`numpy=1.21.2`, `conda-forge::numpy 1.21.2 py39_0`,
`numpy[version='>=1.2']`); pip entries are PEP 508 requirements parsed with `packaging`, with pip
options (`-r`, `--index-url`, ...) and local or VCS references kept apart. `-r` files are followed
relative to the conda file, and only inside its repository (`fs.confine`). Every entry keeps the
JSON pointer of its place in the document, so findings point at the package's line (an entry
read from a `-r` file points at the `-r` line). What an included file holds is the repository's
business, not the report's: findings name its packages and where they are, never quote its lines
(`PipRequirement.label`, `Include.label`).

The same mapping appears inline in v1 Environment JSON (`python.condaDependencies`), v1 inference
configs and v2 YAML (`conda_file:` as a mapping); `build_environment(data, base)` reads any of them.

This module also holds the domain checks shared by the ENV rules and the autofix: what "pinned"
means (preflight's pinning policy) and whether an environment installs the Azure ML serving package.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import urlsplit

from . import fs
from .loaders import FileTooLarge

# `packaging` is imported where it is used: a scan without an environment file never needs it.
if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

AZUREML_DEFAULTS = "azureml-defaults"
INFERENCE_SERVER = "azureml-inference-server-http"
# "you must add azureml-defaults with version >= 1.0.45 as a pip dependency" (v1 docs, *How and where to deploy*).
V1_MINIMUM: Version  # = Version("1.0.45"), built on first use (`__getattr__` below)
# azureml-defaults depends on azureml-inference-server-http from 1.34.0 on (wheel metadata on PyPI).
V2_MINIMUM: Version  # = Version("1.34.0")

# Every azureml-defaults release below 1.0.45 (`pip index versions`), and releases up to
# 1.33: a specifier "admits a version below X" when one of these probes satisfies it, which avoids
# reasoning symbolically about `~=`, `==1.*` or `!=`. The last probe stands for a patch release
# just below the minimum, so `>1.0.44` is not mistaken for a safe lower bound.
_RELEASES_BELOW_1_0_45 = (
    "0.1.50", "0.1.57", "0.1.58", "0.1.59", "0.1.65", "0.1.68", "0.1.74", "0.1.80", "1.0.2", "1.0.6",
    "1.0.8", "1.0.10", "1.0.15", "1.0.17", "1.0.18", "1.0.21", "1.0.23", "1.0.30", "1.0.33", "1.0.39",
    "1.0.41", "1.0.43",
)
_LATER_RELEASES_BELOW_1_34 = ("1.0.48", "1.0.55", "1.0.65", "1.0.72", "1.0.76", "1.0.79", "1.0.83",
                              "1.0.85", "1.0.85.1", "1.1.5", "1.1.5.1") + tuple(f"1.{m}.0" for m in range(2, 34))
V1_PROBES: tuple[Version, ...]  # _RELEASES_BELOW_1_0_45 and 1.0.44.9999
V2_PROBES: tuple[Version, ...]  # V1_PROBES and _LATER_RELEASES_BELOW_1_34


def __getattr__(name: str) -> Any:
    """The version constants above, built (and kept) on first use."""
    if name not in ("V1_MINIMUM", "V2_MINIMUM", "V1_PROBES", "V2_PROBES"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in globals():
        from packaging.version import Version
        v1_probes = tuple(Version(v) for v in _RELEASES_BELOW_1_0_45) + (Version("1.0.44.9999"),)
        globals().update(V1_MINIMUM=Version("1.0.45"), V2_MINIMUM=Version("1.34.0"), V1_PROBES=v1_probes,
                         V2_PROBES=v1_probes + tuple(Version(v) for v in _LATER_RELEASES_BELOW_1_34))
    return globals()[name]

_TEMPLATED = re.compile(r"\{\{.*?\}\}|\$\{.*?\}|<[A-Za-z_-]+>")
_FULL_COMMIT = re.compile(r"@[0-9a-f]{40}(?:$|#|&)")
_MATCHSPEC_NAME = re.compile(r"^([A-Za-z0-9_.\-]+)")
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_PIP_SHORT_OPTIONS = {"-r": "--requirement", "-c": "--constraint", "-i": "--index-url",
                      "-f": "--find-links", "-e": "--editable"}
_MARKER_VARIABLE = re.compile(r"\b(python_version|python_full_version|os_name|sys_platform|platform_release|"
                              r"platform_system|platform_version|platform_machine|platform_python_implementation|"
                              r"implementation_name|implementation_version|extra)\b")
MAX_INCLUDE_DEPTH = 8
MAX_INCLUDE_BYTES = 2 * 1024 * 1024


# ----------------------------------------------------------------------------- pinning policy

@dataclass(frozen=True)
class PinPolicy:
    """The pinning policy and its configurable parts.

    conda: `name=X.Y[.Z][=build]` or `==` is pinned, wildcards and ranges are not; with
    `conda_minor=False`, `name=X.Y` (a fuzzy `X.Y.*`) no longer counts, except for `python`,
    whose minor version is what matters. pip: `==` (no wildcard), `===` or a direct reference.
    With `pinning="compatible"`, a compatible release (`~=X.Y[.Z]`) or a release series
    (`==X.Y.*`, conda `X.Y.*`) counts as pinned too: teams that take patch releases on purpose.
    Names in the exemption lists may float (canonical names)."""

    conda_minor: bool = True
    exempt_conda: frozenset[str] = frozenset()
    exempt_pip: frozenset[str] = frozenset()
    pinning: str = "exact"  # one of PINNING

    @property
    def compatible(self) -> bool:
        return self.pinning == "compatible"

    @classmethod
    def from_pinning(cls, pinning: str | None) -> "PinPolicy":
        """The default policy with `pinning` ("exact" or "compatible"; anything else: exact)."""
        return cls(pinning=pinning if pinning in PINNING else "exact")


PINNING = ("exact", "compatible")
# A compatible-release or series version: at least `X.Y`, with an optional trailing `.*`.
_SERIES = re.compile(r"^\d+(?:\.\d+)+(?:\.\*)?$")


DEFAULT_POLICY = PinPolicy()


# ----------------------------------------------------------------------------- conda packages

@dataclass
class CondaPackage:
    """One conda MatchSpec from `dependencies`."""

    pointer: str
    text: str
    name: str  # canonical (lower case, '-' separators)
    channel: str | None
    version: str | None  # the version part as written (`1.21.2`, `>=1.2,<2`, `1.11.*`, `==1.2`)
    build: str | None
    templated: bool = False
    form: str = "equals"  # "equals" (name=1.2), "space" (name 1.2 build), "bracket" (name[version=..])

    @property
    def pinned(self) -> bool:
        return self.is_pinned(DEFAULT_POLICY)

    def is_pinned(self, policy: PinPolicy = DEFAULT_POLICY) -> bool:
        if self.templated:
            return True
        v = self.version
        if not v:
            return False
        if policy.compatible and _conda_compatible(v):
            return True
        if v.startswith("=="):
            rest = v[2:]
            return bool(rest) and not any(c in rest for c in "*|,<>!~=")
        if any(c in v for c in "*|,<>!~="):
            return False
        if self.build and "*" not in self.build:
            return True  # a version plus a build string: the strongest pin
        parts = v.split(".")
        if len(parts) >= 3:
            return True
        # `=X.Y` is fuzzy (X.Y.*); the policy counts it as pinned by default.
        return len(parts) == 2 and (policy.conda_minor or self.name == "python")

    def alternatives(self) -> list[SpecifierSet] | None:
        """The version constraint as PEP 440 specifier sets (one per `|` alternative), or None
        when it has no PEP 440 equivalent. An empty list: no constraint at all."""
        return conda_specifiers(self.version)


def _conda_compatible(version: str) -> bool:
    """`~=X.Y[.Z]`, `X.Y.*` or `==X.Y.*`: one compatible release or release series."""
    v = version.strip()
    if v.startswith("~="):
        return bool(_SERIES.match(v[2:].strip())) and not v.endswith("*")
    if v.startswith("=="):
        v = v[2:].strip()
    return v.endswith(".*") and bool(_SERIES.match(v))


def conda_specifiers(version: str | None) -> list[SpecifierSet] | None:
    """Translate a conda version constraint to PEP 440: `1.2` and `1.2.*` are `==1.2.*` (conda's
    fuzzy match), `==1.2` is exact, operators carry over, `|` separates alternatives."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    if not version:
        return []
    out = []
    for alternative in version.split("|"):
        clauses = []
        for clause in alternative.split(","):
            clause = clause.strip()
            if not clause:
                return None
            m = re.match(r"^(==|!=|>=|<=|~=|>|<|=)?\s*(.+)$", clause)
            if not m:
                return None
            op, ver = m.group(1) or "", m.group(2).strip()
            if op in ("", "="):
                ver = ver.rstrip("*").rstrip(".")
                if not ver:
                    clauses.append(">=0")
                    continue
                clauses.append(f"=={ver}.*")
            else:
                clauses.append(f"{op}{ver}")
        try:
            out.append(SpecifierSet(",".join(clauses)))
        except InvalidSpecifier:
            return None
    return out


def parse_matchspec(text: str, pointer: str) -> CondaPackage:
    from packaging.utils import canonicalize_name
    spec = text.strip()
    templated = bool(_TEMPLATED.search(spec))
    channel = None
    if "::" in spec:
        channel, spec = spec.split("::", 1)
    version = build = None
    bracket = None
    form = "equals"
    if "[" in spec and spec.endswith("]"):
        spec, bracket = spec[: spec.index("[")].strip(), spec[spec.index("[") + 1: -1]
        form = "bracket"
    parts = spec.split()
    if len(parts) > 1:  # the space form: name version [build]
        name, version = parts[0], parts[1]
        build = parts[2] if len(parts) > 2 else None
        if version.startswith("=") and not version.startswith("=="):
            version = version[1:]
        form = "space" if form == "equals" else form
    else:
        m = _MATCHSPEC_NAME.match(spec)
        name = m.group(1) if m else spec
        rest = spec[len(name):].strip()
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
    return CondaPackage(pointer, text, canonicalize_name(name) if name else "", channel, version or None, build,
                        templated, form)


# ----------------------------------------------------------------------------- pip requirements

@dataclass
class PipRequirement:
    """One line of the `pip:` list (or of a `-r` file).

    kind: "requirement" (PEP 508), "option" (`-r`, `--index-url`, ...; `option`/`value` set),
    "reference" (a URL, VCS or local path without a name; `name`/`version` when the file name
    or `#egg=` tells them), or "comment" (nothing to install)."""

    pointer: str
    text: str
    kind: str
    name: str | None = None  # canonical
    specifier: SpecifierSet | None = None
    url: str | None = None
    marker: str | None = None
    extras: frozenset[str] = frozenset()
    templated: bool = False
    source: str | None = None  # the `-r` file it came from, when not the document itself
    line: int | None = None  # its line in `source`
    option: str | None = None  # long form: "--requirement", "--index-url", ...
    value: str | None = None
    version: Version | None = None  # of a direct reference, from its file name
    section: int = 0  # which `pip:` mapping (0-based) it belongs to

    @property
    def pinned(self) -> bool:
        return self.is_pinned(DEFAULT_POLICY)

    def is_pinned(self, policy: PinPolicy = DEFAULT_POLICY) -> bool:
        """The pinning policy: `==` without a wildcard, `===`, or a direct URL reference
        (a VCS URL only with a full commit hash); under the compatible policy also `~=X.Y[.Z]`
        and `==X.Y.*`. Options and comments are not requirements."""
        if self.templated or self.kind in ("option", "comment"):
            return True
        url = self.url or (self.text.strip() if self.kind == "reference" else "")
        if url:
            if url.startswith(_VCS_PREFIXES):
                return bool(_FULL_COMMIT.search(url))
            return True
        specs = list(self.specifier or ())
        if any((s.operator == "==" and "*" not in s.version) or s.operator == "===" for s in specs):
            return True
        # Other clauses beside a compatible one only narrow it further.
        return policy.compatible and any(
            s.operator == "~=" or (s.operator == "==" and _SERIES.match(s.version)) for s in specs)

    @property
    def is_vcs(self) -> bool:
        url = self.url or (self.text.strip() if self.kind == "reference" else "")
        return url.startswith(_VCS_PREFIXES)

    @property
    def vcs_revision(self) -> str | None:
        """The revision a VCS URL names after `@` (a branch, tag or commit), "" when it names
        none (the default branch), None when it is not a VCS URL. The `user@` of
        `git+ssh://git@host/...` and of scp-like `git+git@host:org/repo` is not a revision."""
        url = self.url or (self.text.strip() if self.kind == "reference" else "")
        if not url.startswith(_VCS_PREFIXES):
            return None
        parts = urlsplit(url)
        path = parts.path
        if not parts.netloc and ":" in path:
            path = path.split(":", 1)[1]  # scp-like: `user@host:path`
        return path.rsplit("@", 1)[1] if "@" in path else ""

    @property
    def unparsable(self) -> bool:
        """Neither a requirement nor a URL or path pip could install (`numpy=1.23.5`, a conda spec)."""
        if self.kind != "reference" or self.url or self.templated:
            return False
        target = self.text.strip()
        return not (target.startswith((".", "/", "~", "\\")) or "/" in target or "\\" in target
                    or target.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2")) or re.match(r"^[A-Za-z]:", target))

    @property
    def where(self) -> str:
        """`requirements.txt line 3` for entries read from a `-r` file, else ''."""
        if self.source is None:
            return ""
        return f"{os.path.basename(self.source)} line {self.line}"

    @property
    def label(self) -> str:
        """How a message shows the entry: the line as written in the scanned file; for a line
        of an included file, only the package it names and where it is."""
        if self.source is None:
            return f"`{self.text.strip()}`"
        if self.kind == "option":
            return f"`{self.option}` ({self.where})"
        return f"'{self.name}' ({self.where})" if self.name else f"the entry at {self.where}"

    def applies(self, python: Version | None) -> bool | None:
        """Whether the marker selects this requirement: True, False, or None (cannot tell)."""
        if not self.marker:
            return True
        return marker_applies(self.marker, python)


def marker_applies(marker: str, python: Version | None) -> bool | None:
    """Evaluate a marker that depends only on the Python version against the environment's
    conda `python` pin; anything else (platform, extras) cannot be known from the file."""
    variables = set(_MARKER_VARIABLE.findall(marker))
    if python is None or not variables <= {"python_version", "python_full_version"}:
        return None
    if "python_full_version" in variables and len(python.release) < 3:
        return None
    from packaging.markers import InvalidMarker, Marker
    try:
        release = python.release + (0,) * (3 - len(python.release))
        env = {"python_version": f"{release[0]}.{release[1]}",
               "python_full_version": ".".join(str(p) for p in release[:3])}
        return Marker(marker).evaluate(env)
    except (InvalidMarker, ValueError, TypeError):
        return None


def _strip_comment(text: str) -> str:
    # pip: a '#' preceded by whitespace (or at the start) begins a comment.
    line = re.split(r"(?:^|\s)#", text, maxsplit=1)[0]
    return line.strip()


def parse_pip_line(text: str, pointer: str, source: str | None = None, line: int | None = None,
                   section: int = 0) -> PipRequirement:
    body = _strip_comment(text)
    templated = bool(_TEMPLATED.search(body))
    base: dict[str, Any] = dict(source=source, line=line, section=section, templated=templated)
    if not body:
        return PipRequirement(pointer, text, "comment", **base)
    if body.startswith("-"):
        option, value = _split_option(body)
        if option in ("--editable",) and value:
            ref = parse_pip_line(value, pointer, source, line, section)
            ref.text, ref.option, ref.value = text, option, value
            return ref
        return PipRequirement(pointer, text, "option", option=option, value=value, **base)
    from packaging.utils import canonicalize_name
    req = _requirement(_TEMPLATED.sub("0", body) if templated else body)
    if req is None:
        # pip accepts per-requirement options after the requirement (`pkg==1 --hash=sha256:..`).
        head = re.split(r"\s+--?[A-Za-z]", body, maxsplit=1)[0]
        req = _requirement(head) if head != body else None
        if req is None:
            return _reference(pointer, text, body, base)
    return PipRequirement(
        pointer, text, "requirement", canonicalize_name(req.name), req.specifier, req.url,
        str(req.marker) if req.marker else None, frozenset(req.extras), version=_version_of_url(req.url), **base,
    )


@functools.lru_cache(maxsize=1024)
def _requirement(text: str) -> Requirement | None:
    """`text` read as a PEP 508 requirement, None when it is not one. Read once per text:
    environment files repeat the same lines (the corpus: 877 pip lines, 290 different), and
    nothing changes what it gives (PipRequirement copies its extras)."""
    from packaging.requirements import InvalidRequirement, Requirement
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def _split_option(body: str) -> tuple[str, str | None]:
    first, _, rest = body.partition(" ")
    rest = rest.strip()
    if first.startswith("--"):
        name, eq, inline = first.partition("=")
        return name, (inline if eq else (rest.split()[0] if rest else None))
    short = first[:2]
    long = _PIP_SHORT_OPTIONS.get(short, short)
    attached = first[2:]
    if attached.startswith("="):
        attached = attached[1:]
    value = attached or (rest.split()[0] if rest else None)
    return long, value


def _reference(pointer: str, text: str, body: str, base: dict) -> PipRequirement:
    """A URL, VCS URL or local path without `name @`: take name and version from it when it
    names them (wheel or sdist file name, `#egg=name`)."""
    url = body.split()[0]
    name: str | None = None
    version: Version | None = None
    egg = re.search(r"[#&]egg=([A-Za-z0-9_.\-]+)", url)
    if egg:
        from packaging.utils import canonicalize_name
        name = canonicalize_name(egg.group(1))
    else:
        filename = url.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        name, version = _name_version_from_filename(filename)
    is_url = bool(_URL.match(url)) or url.startswith(_VCS_PREFIXES)
    return PipRequirement(pointer, text, "reference", name=name, url=url if is_url else None,
                          version=version, **base)


def _name_version_from_filename(filename: str) -> tuple[str | None, Version | None]:
    from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename,
                                 parse_wheel_filename)
    from packaging.version import InvalidVersion
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return str(name), version
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return str(name), version
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    return None, None


def _version_of_url(url: str | None) -> Version | None:
    if not url:
        return None
    filename = url.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return _name_version_from_filename(filename)[1]


# ----------------------------------------------------------------------------- -r files

@dataclass
class Include:
    """A `-r`/`-c` line: the file it names and whether it could be read."""

    pointer: str
    option: str  # "--requirement" | "--constraint"
    target: str  # as written
    path: str | None  # resolved absolute path (None for a URL, or a path outside the repository)
    status: str  # "read" | "remote" | "missing" | "unreadable" | "not followed" | "cycle" | "too-deep"
    # | OUTSIDE
    via: str | None = None  # the `-r` file that named it, for nested includes
    line: int | None = None  # its line in `via`

    @property
    def label(self) -> str:
        """`-r reqs.txt` as written in the scanned file; a nested include is shown by where it
        is, since its text is a line of an included file."""
        short = "-r" if self.option == "--requirement" else "-c"
        if self.via is None:
            return f"`{short} {self.target}`"
        return f"the `{short}` line at {os.path.basename(self.via)} line {self.line}"


OUTSIDE = "outside the repository"


def read_requirement_lines(path: str) -> list[tuple[int, str]]:
    """(line number, logical line) of a requirements file; `\\` continuations joined.
    Raises OSError for anything but a readable regular file of sane size."""
    try:
        raw = fs.read(path, MAX_INCLUDE_BYTES)
    except FileTooLarge:
        raise OSError("too large") from None
    text = raw.decode("utf-8-sig", "replace")
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


# ----------------------------------------------------------------------------- the environment

@dataclass
class CondaEnvironment:
    """The model of one environment: its conda packages and its pip requirements."""

    base: str  # pointer of the environment mapping inside the document ("" for a conda file)
    name: str | None
    channels: list[str]
    conda: list[CondaPackage] = field(default_factory=list)
    pip: list[PipRequirement] = field(default_factory=list)  # every line, from every `pip:` and -r file
    pip_pointers: list[str] = field(default_factory=list)  # each `pip:` mapping's value
    bad_items: list[tuple[str, Any, str]] = field(default_factory=list)  # (pointer, value, what is wrong)
    includes: list[Include] = field(default_factory=list)
    channels_pointer: str = ""
    dependencies_pointer: str | None = None  # None: no `dependencies` list
    constraints: list[PipRequirement] = field(default_factory=list)  # from `-c` files

    def conda_package(self, name: str) -> CondaPackage | None:
        from packaging.utils import canonicalize_name
        name = canonicalize_name(name)
        return next((p for p in self.conda if p.name == name), None)

    def pip_requirements(self, name: str) -> list[PipRequirement]:
        from packaging.utils import canonicalize_name
        name = canonicalize_name(name)
        return [r for r in self.pip if r.name == name and r.kind in ("requirement", "reference")]

    @property
    def requirements(self) -> list[PipRequirement]:
        return [r for r in self.pip if r.kind in ("requirement", "reference")]

    @property
    def options(self) -> list[PipRequirement]:
        return [r for r in self.pip if r.kind == "option"]

    @property
    def unread_includes(self) -> list[Include]:
        return [i for i in self.includes if i.option == "--requirement" and i.status != "read"]

    def python_version(self) -> Version | None:
        """The Python version the conda `python` entry pins, to major.minor at least."""
        python = self.conda_package("python")
        if python is None or not python.version:
            return None
        m = re.match(r"^=?=?\s*(\d+(?:\.\d+){1,2})(?:\.\*)?$", python.version.strip())
        if not m:
            return None
        from packaging.version import InvalidVersion, Version
        try:
            return Version(m.group(1))
        except InvalidVersion:
            return None

    def constrained_exactly(self, name: str | None, policy: PinPolicy = DEFAULT_POLICY) -> bool:
        """A `-c` constraints file pins this package (to one version, or as the policy allows)."""
        return name is not None and any(r.name == name and r.is_pinned(policy) for r in self.constraints)


def build_environment(data: Any, base: str = "", directory: str | None = None) -> CondaEnvironment | None:
    """The model of a conda mapping (a conda file's top level, or one inline in another file).
    With `directory` (the folder of the file that holds it), `-r` and `-c` files are read
    relative to it, as long as they stay inside its repository."""
    if not isinstance(data, dict):
        return None
    deps = data.get("dependencies")
    raw_channels = data.get("channels")
    channels = [c for c in raw_channels if isinstance(c, str)] if isinstance(raw_channels, list) else []
    name = data.get("name") if isinstance(data.get("name"), str) else None
    env = CondaEnvironment(base, name, channels, channels_pointer=f"{base}/channels")
    if deps is None:
        return env
    if not isinstance(deps, list):
        env.bad_items.append((f"{base}/dependencies", deps, "`dependencies` must be a list"))
        return env
    env.dependencies_pointer = f"{base}/dependencies"
    section = 0
    for index, item in enumerate(deps):
        pointer = f"{base}/dependencies/{index}"
        if isinstance(item, str):
            if item.strip():
                env.conda.append(parse_matchspec(item, pointer))
            else:
                env.bad_items.append((pointer, item, "an empty entry"))
        elif isinstance(item, dict) and "pip" in item:
            env.pip_pointers.append(f"{pointer}/pip")
            pips = item.get("pip")
            extra_keys = [k for k in item if k != "pip"]
            if extra_keys:
                env.bad_items.append((pointer, item,
                                      f"a `pip:` entry with other keys ({', '.join(map(str, extra_keys))})"))
            if not isinstance(pips, list):
                if pips is not None:
                    env.bad_items.append((f"{pointer}/pip", pips, "`pip:` must be a list of requirement lines"))
                section += 1
                continue
            for j, line in enumerate(pips):
                if isinstance(line, str):
                    req = parse_pip_line(line, f"{pointer}/pip/{j}", section=section)
                    env.pip.append(req)
                    if req.kind == "option" and req.option in ("--requirement", "--constraint"):
                        _follow(env, req, directory, directory, req.pointer, section, depth=0, seen=set())
                else:
                    env.bad_items.append((f"{pointer}/pip/{j}", line, "a pip line that is not a string"))
            section += 1
        elif isinstance(item, dict):
            env.bad_items.append((pointer, item, "a mapping other than `pip:`"))
        else:
            env.bad_items.append((pointer, item, "not a package name"))
    return env


def _follow(env: CondaEnvironment, option: PipRequirement, directory: str | None, scanned_folder: str | None,
            pointer: str, section: int, depth: int, seen: set[str], via: str | None = None) -> None:
    target = option.value or ""
    if not target:
        return

    def include(path: str | None, status: str) -> None:
        env.includes.append(Include(pointer, option.option or "", target, path, status, via, option.line))

    if _URL.match(target):
        include(None, "remote")
        return
    if directory is None or scanned_folder is None:
        include(None, "not followed")  # an inline environment of a document without a location
        return
    # A scanned file must not make preflight read (and echo into a report) a file elsewhere on
    # the machine, such as a token cache beside the checkout, or /proc/self/environ.
    path = fs.confine(target, directory, scanned_folder)
    if path is None:
        include(None, OUTSIDE)
        return
    real = os.path.realpath(path)
    if real in seen:
        include(path, "cycle")
        return
    if depth >= MAX_INCLUDE_DEPTH:
        include(path, "too-deep")
        return
    try:
        lines = read_requirement_lines(path)
    except FileNotFoundError:
        include(path, "missing")
        return
    except OSError:
        include(path, "unreadable")
        return
    include(path, "read")
    constraint = option.option == "--constraint"
    for number, text in lines:
        req = parse_pip_line(text, pointer, source=path, line=number, section=section)
        if req.kind == "comment":
            continue
        if constraint:
            if req.kind == "requirement":
                env.constraints.append(req)
            continue
        env.pip.append(req)
        if req.kind == "option" and req.option in ("--requirement", "--constraint"):
            _follow(env, req, os.path.dirname(path), scanned_folder, pointer, section, depth + 1, seen | {real},
                    via=path)


# ----------------------------------------------------------------------------- domain checks

def admits_below(spec: SpecifierSet, minimum: Version, probes: Iterable[Version]) -> Version | None:
    """The highest probe below `minimum` that `spec` admits, or None: "this specifier lets pip
    pick a version older than `minimum`". An empty specifier admits the latest release only in
    practice (pip picks the newest), so callers treat it apart."""
    admitted = [v for v in probes if v < minimum and spec.contains(v, prereleases=True)]
    return max(admitted) if admitted else None


def conda_admits_below(package: CondaPackage, minimum: Version, probes: Iterable[Version]) -> Version | None:
    alternatives = package.alternatives()
    if not alternatives:
        return None
    found = [v for spec in alternatives if (v := admits_below(spec, minimum, probes)) is not None]
    return max(found) if found else None


@dataclass
class ServingVerdict:
    """Whether an environment installs the package that serves a scoring script.

    state: "ok"; "missing"; "conda-side" (v1: only as a conda package); "unknown" (not found,
    but a `-r` file could not be read); v2 only: "old-defaults" (azureml-defaults admits a
    release without the server: `admitted`), "unpinned-defaults" (bare azureml-defaults: the
    latest release, which brings the server)."""

    state: str
    requirement: PipRequirement | CondaPackage | None = None
    admitted: Version | None = None
    unread: list[Include] = field(default_factory=list)


def _applicable(env: CondaEnvironment, name: str) -> list[PipRequirement]:
    python = env.python_version()
    return [r for r in env.pip_requirements(name) if r.applies(python) is not False]


def v1_serving(env: CondaEnvironment) -> ServingVerdict:
    """v1 web services need azureml-defaults as a pip dependency (v1 docs, *How and where to deploy*)."""
    found = _applicable(env, AZUREML_DEFAULTS)
    if found:
        return ServingVerdict("ok", found[0])
    conda_side = env.conda_package(AZUREML_DEFAULTS)
    if conda_side is not None:
        return ServingVerdict("conda-side", conda_side)
    if env.unread_includes:
        return ServingVerdict("unknown", unread=env.unread_includes)
    return ServingVerdict("missing")


def v2_serving(env: CondaEnvironment) -> ServingVerdict:
    """v2 online deployments need azureml-inference-server-http, directly or through
    azureml-defaults >= 1.34 (its wheel metadata on PyPI)."""
    server: list[PipRequirement] | list[CondaPackage] = (
        _applicable(env, INFERENCE_SERVER) or [p for p in env.conda if p.name == INFERENCE_SERVER])
    if server:
        return ServingVerdict("ok", server[0])
    defaults: list[PipRequirement | CondaPackage] = list(_applicable(env, AZUREML_DEFAULTS))
    conda_side = env.conda_package(AZUREML_DEFAULTS)
    if conda_side is not None:
        defaults.append(conda_side)
    minimum, probes = __getattr__("V2_MINIMUM"), __getattr__("V2_PROBES")
    for req in defaults:
        if isinstance(req, CondaPackage):
            if not req.version:
                return ServingVerdict("unpinned-defaults", req)
            old = conda_admits_below(req, minimum, probes)
        elif req.kind == "reference" or req.url:
            old = req.version if req.version is not None and req.version < minimum else None
        elif not req.specifier:
            return ServingVerdict("unpinned-defaults", req)
        else:
            old = admits_below(req.specifier, minimum, probes)
        if old is None:
            return ServingVerdict("ok", req)
        return ServingVerdict("old-defaults", req, admitted=old)
    if env.unread_includes:
        return ServingVerdict("unknown", unread=env.unread_includes)
    return ServingVerdict("missing")


# ----------------------------------------------------------------------------- what the pin rules flag

def unpinned_conda_packages(env: CondaEnvironment, policy: PinPolicy = DEFAULT_POLICY) -> list[CondaPackage]:
    """Conda entries the pinning policy does not accept (ENV004), exemptions applied."""
    return [p for p in env.conda if p.name and p.name not in policy.exempt_conda and not p.is_pinned(policy)]


def unpinned_pip_requirements(env: CondaEnvironment, policy: PinPolicy = DEFAULT_POLICY) -> list[PipRequirement]:
    """pip entries the pinning policy does not accept (ENV005): not pinned by `==`/`===`/a direct
    reference (or `~=`/`==X.Y.*` under the compatible policy) or a `-c` constraint, not exempt,
    and not excluded by a marker for this Python.
    Local and artifact references are files, not versions: only VCS references count."""
    python = env.python_version()
    out = []
    for req in env.requirements:
        if req.is_pinned(policy) or (req.kind == "reference" and not req.is_vcs):
            continue
        name = req.name or req.text.strip()
        if name in policy.exempt_pip or env.constrained_exactly(req.name, policy) or req.applies(python) is False:
            continue
        out.append(req)
    return out
