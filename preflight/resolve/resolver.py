"""The resolver: `uv pip compile`, run as the image build would resolve, and its answer.

uv (extra `resolve`) is run as a subprocess with an argument list, never a shell, in an empty
temporary folder and with `--no-config` (a `uv.toml` or `pyproject.toml` of the scanned
repository must not choose its indexes). The requirement lines go through a temporary
requirements file written by preflight (see requirements.py). Only wheels are considered
(`--only-binary :all:`): resolving a source distribution would build it, running its code.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from .requirements import Request

PLATFORM = "x86_64-manylinux_2_28"  # Azure ML images: Linux x86-64
TIMEOUT = 600.0  # one environment's resolution


class ResolverMissing(Exception):
    """uv is not installed (extra `resolve`)."""


@dataclass
class Resolved:
    """The outcome of one resolution: the pinned wheels, or why it failed (`error`, one line),
    or why it could not be tried (`unreachable`: an index could not be reached; not cached)."""

    packages: list[dict[str, Any]] = field(default_factory=list)  # {name, version, url, sha256}
    error: str | None = None
    unreachable: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"packages": self.packages, "error": self.error}


def uv_binary() -> str:
    """The uv executable: the one installed with preflight's `resolve` extra, else on PATH."""
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found]

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise ResolverMissing("--resolve needs uv: pip install 'preflight[resolve]'")
    return found


def uv_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ResolverMissing(f"uv cannot run: {exc}") from None
    return out.stdout.strip()


def python_version_argument(request: Request) -> str:
    release = request.python.release
    return ".".join(str(p) for p in release[:3])


def resolve(binary: str, request: Request, index_url: str | None, extra_index_urls: list[str],
            timeout: float = TIMEOUT) -> Resolved:
    """Resolve a request against the given indexes (None: uv's default index)."""
    with tempfile.TemporaryDirectory(prefix="preflight-resolve-") as folder:
        requirements = os.path.join(folder, "requirements.in")
        with open(requirements, "w", encoding="utf-8") as f:
            f.write("".join(f"{line}\n" for line, _ in request.lines))
        args = [binary, "pip", "compile", "--no-config", "--quiet", "--no-header", "--format", "pylock.toml",
                "--python-version", python_version_argument(request), "--python-platform", PLATFORM,
                "--only-binary", ":all:", "--no-annotate"]
        if request.constraints:
            constraints = os.path.join(folder, "constraints.txt")
            with open(constraints, "w", encoding="utf-8") as f:
                f.write("".join(f"{line}\n" for line in request.constraints))
            args += ["--constraint", constraints]
        if index_url:
            args += ["--index-url", index_url]
        for url in extra_index_urls:
            args += ["--extra-index-url", url]
        args += ["--output-file", os.path.join(folder, "pylock.toml"), requirements]
        try:
            done = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            return Resolved(unreachable=f"the resolver did not finish within {timeout:.0f} s")
        except OSError as exc:
            return Resolved(unreachable=f"the resolver could not run: {exc}")
        if done.returncode != 0:
            return explain(done.stderr)
        try:
            with open(os.path.join(folder, "pylock.toml"), "rb") as f:
                return Resolved(packages=parse_pylock(f.read()))
        except (OSError, ValueError) as exc:
            return Resolved(unreachable=f"the resolver's answer could not be read: {exc}")


def parse_pylock(data: bytes) -> list[dict[str, Any]]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    lock = tomllib.loads(data.decode("utf-8"))
    out = []
    for package in lock.get("packages", []):
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            continue
        wheels = [w for w in package.get("wheels", []) if isinstance(w, dict) and isinstance(w.get("url"), str)]
        wheel = wheels[0] if wheels else {}
        hashes = wheel.get("hashes")
        if not isinstance(hashes, dict):
            hashes = {}
        out.append({"name": package["name"], "version": str(package.get("version", "")),
                    "url": wheel.get("url"), "sha256": hashes.get("sha256")})
    return out


_FETCH = re.compile(r"Failed to (?:fetch|download)[^:]*:\s*`?(\S+?)`?\s*$", re.M)
_CAUSE = re.compile(r"^\s*(?:Caused by|cause):\s*(.+)$", re.M)


def explain(stderr: str) -> Resolved:
    """uv's failure in one line: a resolution error (ENV020), or an index that cannot be reached."""
    text = _plain(stderr)
    if "No solution found" in text or "unsatisfiable" in text or "cannot be used" in text:
        reasons = [c for c in _CAUSE.findall(text)]
        body = " ".join(line.strip() for line in text.splitlines()
                        if line.strip() and not line.lstrip().startswith(("error:", "hint:", "help:")))
        body = re.sub(r"^(?:Caused by|cause):\s*", "", body.strip())
        return Resolved(error=_one_line(body or (reasons[0] if reasons else text)))
    fetch = _FETCH.search(text)
    causes = _CAUSE.findall(text)
    why = causes[-1].strip() if causes else _one_line(text)
    if fetch:
        return Resolved(unreachable=f"{fetch.group(1)}: {_one_line(why)}")
    return Resolved(unreachable=_one_line(why or "the resolver failed without a reason"))


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text or "")


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
