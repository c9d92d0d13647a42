"""One report per defect, where it is fixed (the last step of the filter stage).

A finding on a resource a Bicep module (or a JSON template a `templateLink.relativePath`
links to) declares is located in that file by the check of the file that deploys it
(`preflight.engine.to_finding`), with the chain of module calls or links in `data["callers"]`.
Over the whole scan:

- a file that another scanned file deploys as a module or links to is judged through its
  callers' values: the findings of its own check (with its parameters' defaults) are dropped,
  except those about the file itself (PF001-PF004);
- the same finding (rule, file, position, fingerprint) reached from several callers becomes one
  that names them all. The fingerprint never includes the callers, so a finding keeps its
  identity (baseline, SARIF) when a caller is added;
- a finding inside a module that `bicep build` inlined into a compiled template beside its
  scanned Bicep source (`fold_compiled_copies`) is the Bicep module's finding again: it is dropped,
  and the module's finding names it in `data["compiled"]`. A compiled template is deployed on
  its own too (a Deploy-to-Azure button): a finding at its top level, and an error anywhere in
  it (deploying it breaks or wipes something), stays its own.

Runs on findings alone (plus the module links `ModuleCalls` took from each template's bytes as
the scan first read them, and a read of the JSON templates with findings in nested deployments),
so its output is the same whether findings came from a worker process, the result cache or
neither. Which files are deployed is known before any check (`ModuleCalls.called` of the files
that will be checked): such a file runs only the rules whose findings this step keeps
(`JUDGED_ON_ITS_OWN_TEXT`, see `preflight.filters.FindingFilter.rules_for`).
"""
from __future__ import annotations

import os
import re
from typing import Any, Iterable

from . import fs
from .findings import Finding, Severity

KEEP_ALWAYS = frozenset({"PF001", "PF002", "PF003", "PF004"})  # about the file, not its values
# The rules whose findings in a deployed file's own check are kept: those about the file, and
# PF010's notes on its own text (callers repeat them with their chain: not kept then).
JUDGED_ON_ITS_OWN_TEXT = KEEP_ALWAYS | {"PF010"}
_MODULE = re.compile(r"^[ \t]*module[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]+'([^'\n]*)'", re.M)
_RELATIVE_PATH = re.compile(r'"relativePath"\s*:\s*"([^"\[\\][^"\\]*)"')  # a literal path, not an expression
MAX_BICEP_BYTES = 4 * 1024 * 1024
FIRST_LINE = 160  # characters of a message's first line, with what this step adds
SHOWN_CALLERS = 1  # a message names the first deploying file; data names them all


def file_key(path: str) -> str:
    """A file's path as modules and links are compared: absolute, in the file system's case."""
    return os.path.normcase(os.path.abspath(path))



class ModuleCalls:
    """What each template the scan reads deploys, taken from its bytes as the scan first reads
    them (no file is read again for it): Bicep `module` lines and JSON
    `templateLink.relativePath` links, each to a file inside the repository."""

    def __init__(self) -> None:
        self.calls: dict[str, set[str]] = {}  # key of the calling file -> keys of the files it names

    def read(self, path: str, raw: bytes) -> None:
        lower = path.lower()
        if lower.endswith(".bicep"):
            limit, marker, pattern = MAX_BICEP_BYTES, b"module", _MODULE
        elif lower.endswith(".json"):
            limit, marker, pattern = MAX_TEMPLATE_BYTES, b'"relativePath"', _RELATIVE_PATH
        else:
            return
        if len(raw) > limit or marker not in raw:  # most call nothing
            return
        folder = os.path.dirname(os.path.abspath(path))
        targets = set()
        for named in pattern.findall(raw.decode("utf-8", "replace")):
            if ":" in named:  # a registry reference
                continue
            target = fs.confine(named, folder)
            if target is not None:
                targets.add(file_key(target))
        if targets:
            self.calls[file_key(path)] = targets

    def called(self, checked: Iterable[str]) -> set[str]:
        """The checked template files (normalised absolute paths) that a checked file deploys,
        directly or through other files, and that is not itself deployed by one (a cycle of
        modules alone deploys nothing: its files are judged each on its own)."""
        scanned = {file_key(p) for p in checked if p.lower().endswith((".bicep", ".json"))}
        calls: dict[str, set[str]] = {}
        for caller, targets in self.calls.items():
            if caller in scanned:
                found = {t for t in targets if t in scanned and t != caller}
                if found:
                    calls[caller] = found
        callees = set().union(*calls.values()) if calls else set()
        called: set[str] = set()
        todo = [callee for root in calls if root not in callees for callee in calls[root]]
        while todo:
            module = todo.pop()
            if module not in called:
                called.add(module)
                todo.extend(calls.get(module, ()))
        return called


def _origin(f: Finding) -> str:
    """The scanned file whose check produced the finding."""
    callers = f.data.get("callers") if f.data else None
    if callers:
        return callers[0].split(" > ")[0].rsplit(":", 1)[0]
    return f.path


def report_once(findings: list[Finding], checked: Iterable[str], calls: ModuleCalls) -> list[Finding]:
    checked = list(checked)
    called = calls.called(checked)
    kept: list[Finding] = []
    merged: dict[tuple, Finding] = {}
    for f in findings:
        callers = f.data.get("callers") if f.data else None
        if called and f.rule not in KEEP_ALWAYS and file_key(_origin(f)) in called \
                and (callers or f.rule != "PF010"):  # a note on its own text is not repeated by callers
            continue  # judged through the scanned files that deploy it
        key = (f.rule, f.path, f.line, f.column, f.fingerprint)
        first = merged.get(key)
        if first is None:
            merged[key] = f
            kept.append(f)
        elif callers or first.data.get("callers"):  # the same finding reached another way
            known = first.data.setdefault("callers", [])
            known.extend(c for c in callers or () if c not in known)
            first.severity = max(first.severity, f.severity)
        else:
            kept.append(f)  # the same finding twice in one file's own check stays twice (as before)
    kept = fold_compiled_copies(kept, checked, called)
    for f in kept:
        if f.data.get("callers"):
            f.data["callers"] = sorted(f.data["callers"])
            if f.data.get("compiled"):  # (named in data alone: the message stays one short line)
                f.data["compiled"] = sorted(f.data["compiled"])
            f.message = f"{f.message} ({_deployed_by(f.data['callers'], f.path, FIRST_LINE - len(f.message) - 3)})"
    return kept


# ------------------------------------------------------------------ compiled copies

# A nested deployment's inline template: `.../resources/<index or symbol>/properties/template`
# followed by a template section (a container app's `properties.template` is not one).
_INLINED = re.compile(r"/resources/[^/]+/properties/template(?=/(?:resources|outputs|variables|parameters"
                      r"|functions|definitions)(?:/|$))")
_RESOURCE_KEY = re.compile(r"(/resources/)[^/]+")
_GENERATOR_HEAD = 64 * 1024  # bytes of a template read to find `metadata._generator`
MAX_TEMPLATE_BYTES = 32 * 1024 * 1024
# A compiled template is deployed on its own too (a Deploy-to-Azure button deploys the JSON):
# a finding that deploying it breaks or wipes something (an error) is that template's own
# verdict, and stays on it; a warning about how a module is written is reported once, where
# it is fixed.
KEPT_ON_EACH_COPY = Severity.ERROR
# What names the resource a finding is about, compared when both findings carry it.
_SAME_WHEN_BOTH = ("vault", "type")


def _inlined(pointer: str) -> tuple[int, str, str]:
    """(how many inlined templates `pointer` is inside, the innermost one's pointer, the pointer
    inside it)."""
    cuts = [m.end() for m in _INLINED.finditer(pointer)]
    return (len(cuts), pointer[:cuts[-1]], pointer[cuts[-1]:]) if cuts else (0, "", pointer)


def _shape(pointer: str) -> str:
    """A pointer without its resource indexes or symbolic names, which differ between compilers
    (`bicep build` orders and names resources its own way)."""
    return _RESOURCE_KEY.sub(r"\1*", pointer)


def generated_by_bicep(path: str) -> bool:
    """Whether the JSON template at `path` says `bicep build` wrote it (`metadata._generator.name
    == "bicep"`). Only the head is searched first: most templates are rejected unparsed."""
    import json

    from .loaders import decode

    raw = read_or_none(path)
    if raw is None or b'"_generator"' not in raw[:_GENERATOR_HEAD] or b"bicep" not in raw[:_GENERATOR_HEAD]:
        return False
    try:  # only the keys on the way to the generator's name are kept: a template is not built whole
        data = json.loads(decode(raw), object_pairs_hook=_generator_keys)
    except (ValueError, RecursionError):  # (a LoadError is a ValueError)
        return False
    metadata = data.get("metadata") if isinstance(data, dict) else None
    generator = metadata.get("_generator") if isinstance(metadata, dict) else None
    return isinstance(generator, dict) and generator.get("name") == "bicep"


def _generator_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: value for key, value in pairs if key in ("metadata", "_generator", "name")}


def read_or_none(path: str, limit: int = MAX_TEMPLATE_BYTES) -> bytes | None:
    from .bicep.files import read_regular

    return read_regular(path, limit)


def bicep_source(compiled: str, scanned: dict[str, str], called: set[str]) -> str | None:
    """The scanned Bicep file (normalised absolute path) a compiled template beside it was built
    from: `X.bicep` for `X.json`, else `main.bicep`, else the only scanned Bicep file of the
    folder that no scanned file deploys. None when the first that exists is not scanned, or
    there is no such file."""
    folder = os.path.dirname(os.path.abspath(compiled))
    stem = os.path.splitext(os.path.basename(compiled))[0]
    for name in (stem + ".bicep", "main.bicep"):
        candidate = file_key(os.path.join(folder, name))
        if candidate in scanned or fs.isfile(candidate):
            return candidate if candidate in scanned else None
    entries = [k for k in scanned if os.path.dirname(k) == os.path.normcase(folder) and k not in called]
    return entries[0] if len(entries) == 1 else None


def fold_compiled_copies(findings: list[Finding], checked: list[str], called: set[str]) -> list[Finding]:
    """Drop each finding inside an inlined module of a compiled template whose Bicep source is
    scanned, when the source reaches the same defect: a finding of the same rule located in the
    module, through a chain of calls from the source as deep as the inlining, at the same
    property path inside the module's template (and on the same vault or type, when both name
    one). That finding names the copy in `data["compiled"]`; its fingerprint stays. An error
    (KEPT_ON_EACH_COPY) stays on the first copy, by path, and is dropped from the others."""
    copies = [f for f in findings if f.path.lower().endswith(".json") and not f.data.get("callers")
              and _INLINED.search(f.pointer)]
    if not copies:
        return findings
    scanned = {file_key(p): p for p in checked if p.lower().endswith(".bicep")}
    reached: dict[tuple, list[Finding]] = {}
    for b in findings:
        for chain in b.data.get("callers") or ():
            calls = chain.split(" > ")
            root = file_key(calls[0].rsplit(":", 1)[0])
            group = reached.setdefault((b.rule, root, len(calls), _shape(b.pointer)), [])
            if b not in group:
                group.append(b)
    # Each inlined template is one module: the module file whose findings (reached from the
    # source as deep) explain most of the template's findings. The outer resource indexes
    # cannot tell (a module may sit beside hand-written deployments), and two modules may have
    # findings alike (an `existing` vault and a declared one at one apiVersion).
    sources: dict[str, str | None] = {}
    inlined: dict[tuple[str, str], list[tuple[Finding, list[Finding]]]] = {}
    for f in copies:
        if f.path not in sources:
            source = bicep_source(f.path, scanned, called)
            sources[f.path] = source if source is not None and generated_by_bicep(f.path) else None
        source = sources[f.path]
        if source is None:
            continue
        depth, template, inner = _inlined(f.pointer)
        same = [b for b in reached.get((f.rule, source, depth, _shape(inner)), ())
                if all(b.data.get(k) == f.data.get(k) for k in _SAME_WHEN_BOTH
                       if b.data.get(k) is not None and f.data.get(k) is not None)]
        inlined.setdefault((f.path, template), []).append((f, same))
    dropped: set[int] = set()
    kept_errors: dict[int, tuple[Finding, list[Finding]]] = {}
    for found in inlined.values():
        votes: dict[str, int] = {}
        for _, same in found:
            for module in {b.path for b in same}:
                votes[module] = votes.get(module, 0) + 1
        best = max(votes.values(), default=0)
        winners = [module for module, n in votes.items() if n == best]
        if best == 0 or len(winners) > 1:
            continue  # no module, or no one module, repeats this template's findings: kept
        pairs: dict[tuple, tuple[list[Finding], list[Finding]]] = {}
        for f, same in found:
            same = [b for b in same if b.path == winners[0]]
            if same:
                pairs.setdefault((f.rule, tuple(id(b) for b in same)), ([], same))[0].append(f)
        for copies_alike, same in pairs.values():
            # Findings alike but for the resource (two resources of one type in a module) pair
            # in order of position: both compilers keep the order of declaration.
            copies_alike.sort(key=lambda c: (c.line, c.column))
            same = sorted(same, key=lambda b: (b.line, b.column))
            for i, f in enumerate(copies_alike):
                b = same[min(i, len(same) - 1)]
                if f.severity >= KEPT_ON_EACH_COPY:
                    kept_errors.setdefault(id(b), (b, []))[1].append(f)
                    continue
                b.data.setdefault("compiled", []).append(f"{f.path}:{f.line}")
                dropped.add(id(f))
    # An error stays on one compiled copy (the first by path): the copies of one module's
    # defect are one more report, not one per copy. The module's finding names the others.
    for b, errors in kept_errors.values():
        errors.sort(key=lambda c: (c.path, c.line, c.column))
        for f in errors[1:]:
            b.data.setdefault("compiled", []).append(f"{f.path}:{f.line}")
            dropped.add(id(f))
    return [f for f in findings if id(f) not in dropped]


def _deployed_by(callers: list[str], path: str, room: int = 1 << 30) -> str:
    """The scanned files that deploy the module at `path`, as a message names them: the
    outermost file of each chain of calls, relative to the module's folder, at most
    SHOWN_CALLERS (the chains in full, as scanned, stay in `data["callers"]`). In `room`
    characters when it can: the first caller without its line, then its file name alone, then
    only how many there are."""
    roots = list(dict.fromkeys(_relative(chain.split(" > ")[0], path) for chain in callers))
    more = len(roots) - SHOWN_CALLERS
    tail = f" and {more} more" if more > 0 else ""
    shown = ", ".join(roots[:SHOWN_CALLERS])
    file = shown.rpartition(":")[0]
    for said in (f"deployed by {shown}{tail}", f"deployed by {file}{tail}",
                 f"deployed by {os.path.basename(file)}{tail}"):
        if len(said) <= room:
            return said
    return f"deployed by {len(roots)} file{'s' if len(roots) > 1 else ''}"


def _relative(call: str, path: str) -> str:
    """'FILE:LINE' with FILE relative to the folder of `path` (as scanned, where none exists)."""
    file, _, line = call.rpartition(":")
    try:
        file = os.path.relpath(file, os.path.dirname(path) or os.curdir)
    except ValueError:  # another drive
        pass
    return f"{file}:{line}"
