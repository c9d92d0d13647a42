"""The `--resolve` provider: environments and scoring scripts collected during the scan, then

    each environment's pip requirements resolved once (cached)      -> ENV020 at the requirement
    each scoring script's imports against its environment's modules -> SCR006 at the import

An index that cannot be reached is a notice (`notices`, printed by the command line), never a
finding about the environment; the offline findings are reported as usual.
"""
from __future__ import annotations

import ast
import os
import re
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from ..documents import Document, Kind
from ..findings import Finding
from . import modules as mods
from .requirements import Request, build_request, http_url, unresolved_includes
from .resolver import Resolved, resolve, uv_binary, uv_version
from .store import RESOLUTION_MAX_AGE, Store, key_of

ENVIRONMENT_HOLDERS = (Kind.CONDA, Kind.ENVIRONMENT_V1, Kind.ENVIRONMENT_V2, Kind.INFERENCE_V1,
                       Kind.ONLINE_DEPLOYMENT_V2, Kind.BATCH_DEPLOYMENT_V2)
DEPLOYMENTS = (Kind.INFERENCE_V1, Kind.ONLINE_DEPLOYMENT_V2, Kind.BATCH_DEPLOYMENT_V2)
# Conda packages that put no importable module of their name in the image.
_CONDA_TOOLS = {"python", "pip", "setuptools", "wheel", "ca-certificates", "openssl", "libgcc-ng", "cudatoolkit"}


@dataclass
class ResolveSettings:
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    cache_dir: str | None = None
    timeout: float = 600.0


@dataclass
class _Environment:
    doc: Document
    base: str  # the environment's pointer inside doc
    env: Any  # CondaEnvironment
    request: Request | None
    scanned: bool = True
    resolved: Resolved | None = None


@dataclass
class _Script:
    by: Document  # the deployment or inference config
    path: str
    folders: list[str]
    environments: list[tuple[str, str]]  # (abspath of the document holding it, base pointer)


class ResolveProvider:
    """Plugged into `Options.providers` by `scan --resolve`."""

    name = "RESOLVE"

    def __init__(self, settings: ResolveSettings, pip_index: Callable[[], tuple[str | None, list[str]]] | None = None):
        self.settings = settings
        self.pip_index = pip_index or pip_configured_index
        self.environments: dict[tuple[str, str], _Environment] = {}
        self.scripts: list[_Script] = []
        self.shown: dict[str, str] = {}  # abspath -> the path the scan shows
        self.notices: list[str] = []
        self.progress: Any = None
        self._resolved: dict[str, Resolved] = {}  # by key: identical environments are resolved once

    # ------------------------------------------------------------------ collect

    def collect(self, doc: Document, ctx: Any) -> None:
        from ..project import environment_links_of, held_environments, scoring_script_of

        self.shown.setdefault(os.path.normpath(doc.abspath), doc.path)
        if doc.kind in ENVIRONMENT_HOLDERS:
            for held in held_environments(doc, ctx):
                self._hold(held.doc, held.env)
        if doc.kind not in DEPLOYMENTS:
            return
        link = scoring_script_of(doc, ctx)
        if link is None or not link.exists or not link.path:
            return
        envs: list[tuple[str, str]] = []
        for held in held_environments(doc, ctx):  # inline
            envs.append(self._hold(held.doc, held.env))
        for env_link in environment_links_of(doc, ctx):
            env_doc = ctx.document_at(env_link.path) if env_link.exists and env_link.path else None
            if env_doc is None or env_doc.error is not None:
                continue
            for held in held_environments(env_doc, ctx):
                envs.append(self._hold(held.doc, held.env, scanned=False))
        folders = [f for f in (link.code_directory, os.path.dirname(link.path)) if f]
        if doc.kind == Kind.INFERENCE_V1:  # the service runs in `sourceDirectory`: its modules import too
            from ..project import v1_source_directories

            folders += [b for b in v1_source_directories(doc) if link.path.startswith(b + os.sep)]
        self.scripts.append(_Script(doc, link.path, folders, envs))

    def _hold(self, doc: Document, env: Any, scanned: bool = True) -> tuple[str, str]:
        """Keep an environment once; `scanned`: it is in a scanned file, so ENV020 reports on it."""
        key = (os.path.normpath(doc.abspath), env.base)
        if key not in self.environments:
            self.environments[key] = _Environment(doc, env.base, env, build_request(env), scanned=scanned)
        elif scanned:
            self.environments[key].scanned = True
        return key

    # ------------------------------------------------------------------ finish

    def finish(self, ctx: Any) -> list[Finding]:
        from ..contract import REGISTRY
        from ..rulepacks import load_rule_packs

        load_rule_packs()
        env020, scr006 = REGISTRY["ENV020"], REGISTRY["SCR006"]
        options = getattr(ctx, "options", None)
        self.progress = getattr(options, "progress", None)
        wanted = [e for e in self.environments.values() if e.request is not None]
        if not wanted and not any(e.scanned for e in self.environments.values()):
            return []
        store = Store(self.settings.cache_dir)
        if store.problem:
            self.notices.append(f"resolve cache not used: {store.problem}")
        findings: list[Finding] = []
        try:
            binary = version = None
            for number, item in enumerate(wanted, start=1):
                self._show(f"resolving {number}/{len(wanted)}: {self._path(item.doc)}")
                if binary is None:
                    binary = uv_binary()
                    version = uv_version(binary)
                assert item.request is not None  # `wanted` holds the environments with a request
                item.resolved = self._resolve(item.request, binary, version or "", store)
            for item in self.environments.values():
                if item.scanned:
                    findings.extend(self._env020(item, env020))
            for script in self.scripts:
                self._show(f"checking imports: {self._path_of(script.path)}")
                findings.extend(self._scr006(script, ctx, store, scr006))
        finally:
            self._show(None)
            store.close()
        return findings

    def _resolve(self, request: Request, binary: str, version: str, store: Store) -> Resolved:
        index, extras = self._indexes(request)
        key = key_of({"lines": [line for line, _ in request.lines], "constraints": request.constraints,
                      "python": str(request.python), "platform": "x86_64-manylinux_2_28", "index": index,
                      "extra": extras, "uv": version})
        if key in self._resolved:
            return self._resolved[key]
        self._resolved[key] = result = self._resolve_uncached(request, binary, key, index, extras, store)
        return result

    def _resolve_uncached(self, request: Request, binary: str, key: str, index: str | None, extras: list[str],
                          store: Store) -> Resolved:
        cached = store.get("resolution", key, RESOLUTION_MAX_AGE)
        if isinstance(cached, dict) and isinstance(cached.get("packages"), list):
            return Resolved(packages=[p for p in cached["packages"] if isinstance(p, dict)],
                            error=cached.get("error") if isinstance(cached.get("error"), str) else None)
        result = resolve(binary, request, index, extras, self.settings.timeout)
        if result.unreachable:
            shown = index or "the default index"
            notice = f"could not resolve against {shown}: {result.unreachable}; ENV020 and SCR006 not checked"
            if notice not in self.notices:
                self.notices.append(notice)
            return result
        if result.error:
            result.error = self._nearest(result.error, request, index or "https://pypi.org/simple/")
        store.put("resolution", key, result.to_json())
        return result

    def _indexes(self, request: Request) -> tuple[str | None, list[str]]:
        """The environment's own index lines, else --index-url, else pip's configuration."""
        if request.index_url or request.extra_index_urls:
            return request.index_url or self.settings.index_url, request.extra_index_urls
        if self.settings.index_url or self.settings.extra_index_urls:
            return self.settings.index_url, list(self.settings.extra_index_urls)
        return self.pip_index()

    # ------------------------------------------------------------------ ENV020

    def _env020(self, item: _Environment, rule: Any) -> list[Finding]:
        out = []
        for include in unresolved_includes(item.env):
            out.append(self._finding(rule, item.doc, include.pointer,
                                     f"{include.label} cannot be opened ({include.status}): the image build fails",
                                     "commit the file, or correct its path (relative to the conda file)"))
        resolved, request = item.resolved, item.request
        if resolved is None or resolved.error is None or request is None:
            return out
        named = _named_requirements(resolved.error, request)
        pointer = named[0].pointer if named else (item.env.pip_pointers[0] if item.env.pip_pointers else item.base)
        where = f" ({named[0].where})" if named and named[0].where else ""
        message = f"the environment cannot be installed for Python {request.python}{where}: {resolved.error}"
        out.append(self._finding(rule, item.doc, pointer, message,
                                 "pin versions that exist on the index and agree with each other and with the "
                                 "environment's Python", {"packages": sorted({r.name for r in named if r.name})}))
        return out

    def _nearest(self, error: str, request: Request, index: str) -> str:
        """A pinned version the index does not have: name the nearest versions it has."""
        m = re.search(r"no version of ([A-Za-z0-9._-]+)==([^\s,;]+)", error)
        if not m:
            return error
        name, wanted = m.group(1), m.group(2)
        versions = available_versions(index, name)
        if not versions:
            return error
        try:
            target = Version(wanted)
        except InvalidVersion:
            return error
        below = [v for v in versions if v < target]
        above = [v for v in versions if v > target]
        near = ([str(max(below))] if below else []) + ([str(min(above))] if above else [])
        return f"{error} (nearest on the index: {', '.join(near)})" if near else error

    # ------------------------------------------------------------------ SCR006

    def _scr006(self, script: _Script, ctx: Any, store: Store, rule: Any) -> list[Finding]:
        envs = [self.environments[k] for k in script.environments if k in self.environments]
        if not envs:
            return []
        doc = ctx.document_at(script.path)
        if doc is None or doc.error is not None or not isinstance(getattr(doc, "data", None), ast.Module):
            return []
        imports = [i for i in mods.script_imports(doc.data) if i.module not in mods.STDLIB
                   and not mods.local_module(i.module, script.folders)]
        out = []
        for item in envs:
            resolved = item.resolved
            if item.request is None or resolved is None or resolved.error or resolved.unreachable \
                    or not item.request.complete:
                continue  # an environment that did not resolve, or only in part, proves nothing
            provided = self._provided(item, resolved, imports, store)
            if provided is None:
                continue
            for imp in imports:
                if imp.module in provided:
                    continue
                out.append(Finding(rule.id, rule.name, rule.severity, self._path_of(script.path), "",
                                   f"`import {imp.module}`: no package of the environment "
                                   f"{self._path(item.doc)} provides module '{imp.module}' (resolved for Python "
                                   f"{item.request.python} on Linux x86-64): the script fails at import",
                                   f"add the distribution that provides '{imp.module}' to the environment's `pip:` "
                                   "list, or ship the module with the script's code",
                                   imp.line, imp.column, {"module": imp.module}))
        return out

    def _provided(self, item: _Environment, resolved: Resolved, imports: list[mods.Import],
                  store: Store) -> set[str] | None:
        """Modules the environment provides: read from each resolved wheel (cached by hash),
        guessed from names only until an import is left unexplained; None when a wheel could not
        be read (nothing is reported then)."""
        conda = set()
        for package in item.env.conda:
            if package.name and package.name not in _CONDA_TOOLS:
                conda |= mods.guessed_modules(package.name)
        known: dict[str, list[str]] = {}
        unknown = []
        for package in resolved.packages:
            sha = package.get("sha256")
            cached = store.get("wheel", str(sha)) if isinstance(sha, str) else None
            if isinstance(cached, list) and all(isinstance(m, str) for m in cached):
                known[package["name"]] = cached
            else:
                unknown.append(package)
        provided = conda | {m for ms in known.values() for m in ms}
        guessed = provided | {m for p in unknown for m in mods.guessed_modules(p["name"])}
        if all(i.module in guessed for i in imports):
            return guessed
        for package in unknown:
            url, sha = package.get("url"), package.get("sha256")
            if not (isinstance(url, str) and http_url(url)):
                return None
            try:
                found = mods.download_modules(url, sha if isinstance(sha, str) else None)
            except (OSError, ValueError, EOFError) as exc:
                self.notices.append(f"could not read the wheel {url}: {exc}; SCR006 not checked")
                return None
            if isinstance(sha, str):
                store.put("wheel", sha, found)
            provided |= set(found)
        return provided

    # ------------------------------------------------------------------ helpers

    def _finding(self, rule: Any, doc: Document, pointer: str, message: str, fix: str,
                 data: dict | None = None) -> Finding:
        line, column = doc.locate(pointer)
        return Finding(rule.id, rule.name, rule.severity, self._path(doc), pointer, message, fix, line, column,
                       data or {})

    def _path(self, doc: Document) -> str:
        return self._path_of(doc.abspath)

    def _path_of(self, abspath: str) -> str:
        key = os.path.normpath(abspath)
        if key in self.shown:
            return self.shown[key]
        relative = os.path.relpath(key)
        return key if relative.startswith("..") else relative

    def _show(self, text: str | None) -> None:
        stream = getattr(self.progress, "stream", None)
        if stream is None:
            return
        try:
            stream.write("\r\033[K" + (text[:100] if text else ""))
            stream.flush()
        except (OSError, ValueError):
            pass


def _named_requirements(error: str, request: Request) -> list[Any]:
    """The requirements the resolver's reason names, in the order it names them."""
    hits = []
    lowered = error.lower()
    for _, req in request.lines:
        if not req.name:
            continue
        pattern = r"(?<![a-z0-9._-])" + re.escape(req.name).replace(r"\-", "[-_.]") + r"(?![a-z0-9_-])"
        m = re.search(pattern, lowered)
        if m:
            hits.append((m.start(), req))
    return [req for _, req in sorted(hits, key=lambda h: h[0])]


def available_versions(index: str, name: str, timeout: float = 20.0) -> list[Version]:
    """Versions of a project on a PEP 503 index page (http(s) only); [] when it cannot be read."""
    if not http_url(index):
        return []
    url = index.rstrip("/") + "/" + canonicalize_name(name) + "/"
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "preflight", "Accept": "text/html"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) checked
            page = answer.read(8 << 20).decode("utf-8", "replace")
    except (OSError, ValueError):
        return []
    versions = set()
    for filename in re.findall(r">\s*([^<>\s]+\.(?:whl|tar\.gz|zip))\s*<", page):
        try:
            if filename.endswith(".whl"):
                versions.add(parse_wheel_filename(filename)[1])
            else:
                versions.add(parse_sdist_filename(filename)[1])
        except ValueError:
            continue
    return sorted(versions)


def pip_configured_index() -> tuple[str | None, list[str]]:
    """pip's own configuration (`pip config list`: index-url, extra-index-url); (None, []) for
    uv's default index when pip names none."""
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return None, []
    index: str | None = None
    extras: list[str] = []
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        value = value.strip().strip("'\"")
        option = key.rsplit(".", 1)[-1]
        if option == "index-url" and value:
            index = value.split()[0]
        elif option == "extra-index-url":
            extras += [v for v in value.split() if v not in extras]
    return index, extras
