"""What the resolver may see of an environment: parsed requirements only, never a line as written.

Requirement lines come from the scanned repository. A line is re-written from its parsed parts
(name, extras, specifier, marker; a direct reference only as `name @ https://...whl`), so an
option line (`-r`, `--find-links`, `--trusted-host`, `-e`, `--index-url`, ...) can never become
an option of the resolver. The only options honoured are the environment's own `--index-url` and
`--extra-index-url`, and only for http(s) URLs. A source archive, VCS or local reference is not
resolved: building it would run code from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..conda import CondaEnvironment, PipRequirement

if TYPE_CHECKING:
    from packaging.version import Version

INDEX_OPTIONS = ("--index-url", "--extra-index-url")
UNRESOLVED_INCLUDES = ("missing", "unreadable")  # the image build fails on these `-r`/`-c` files


@dataclass
class Request:
    """One environment's resolution: the lines given to the resolver (each with the entry it
    came from), constraints, the Python version and the indexes the environment names."""

    python: Version
    lines: list[tuple[str, PipRequirement]] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    skipped: list[tuple[PipRequirement, str]] = field(default_factory=list)  # not resolved, and why

    @property
    def complete(self) -> bool:
        """Every requirement was resolved: what the resolution lacks, the image lacks too."""
        return not self.skipped


def http_url(value: str | None) -> bool:
    if not value:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)


def requirement_line(req: PipRequirement) -> tuple[str | None, str | None]:
    """(the line to resolve, None) or (None, why it is not resolved)."""
    if req.templated:
        return None, "its version is a template"
    if req.kind != "requirement" or not req.name:
        return None, "a reference without a package name"
    if req.option is not None:  # `-e ...`
        return None, "an editable install"
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    if req.url:
        path = urlsplit(req.url).path if http_url(req.url) else ""
        if not path.endswith(".whl"):
            return None, "a direct reference to a source archive, VCS or local path (building it would run its code)"
        line = f"{req.name}{extras} @ {req.url}"
    else:
        line = f"{req.name}{extras}{req.specifier or ''}"
    if req.marker:
        line += f" ; {req.marker}"
    return line, None


def build_request(env: CondaEnvironment) -> Request | None:
    """The resolution of an environment's pip section; None when it has none, or when its Python
    is not pinned (the build's Python is then unknown)."""
    python = env.python_version()
    if python is None or not env.requirements:
        return None
    request = Request(python)
    for req in env.requirements:
        line, reason = requirement_line(req)
        if line is None:
            request.skipped.append((req, reason or ""))
        elif "\n" not in line and "\r" not in line:
            request.lines.append((line, req))
    for req in env.constraints:
        line, _ = requirement_line(req)
        if line is not None and "\n" not in line:
            request.constraints.append(line)
    for option in env.options:
        if option.option in INDEX_OPTIONS and http_url(option.value):
            if option.option == "--index-url":
                request.index_url = option.value
            elif option.value not in request.extra_index_urls:
                request.extra_index_urls.append(option.value or "")
    return request


def unresolved_includes(env: CondaEnvironment):
    """The `-r`/`-c` files the image build cannot open."""
    return [i for i in env.includes if i.status in UNRESOLVED_INCLUDES]
