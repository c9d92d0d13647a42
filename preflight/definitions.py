"""One report per defect, where it is fixed (the last step of the filter stage).

A finding on a resource a Bicep module declares is located in the module file by the check of
the file that deploys it (`preflight.engine.to_finding`), with the chain of module calls in
`data["callers"]`. Over the whole scan:

- a Bicep file that another scanned Bicep file deploys as a module is judged through its
  callers' values: the findings of its own check (with its parameters' defaults) are dropped,
  except those about the file itself (PF001-PF004);
- the same finding (rule, file, position, fingerprint) reached from several callers becomes one
  that names them all. The fingerprint never includes the callers, so a finding keeps its
  identity (baseline, SARIF) when a caller is added.

Runs on findings alone (plus a cheap read of the scanned Bicep files' `module` lines), so its
output is the same whether findings came from a worker process, the result cache or neither.
"""
from __future__ import annotations

import os
import re
from typing import Iterable

from .findings import Finding

KEEP_ALWAYS = frozenset({"PF001", "PF002", "PF003", "PF004"})  # about the file, not its values
_MODULE = re.compile(r"^[ \t]*module[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]+'([^'\n]*)'", re.M)
MAX_BICEP_BYTES = 4 * 1024 * 1024
SHOWN_CALLERS = 1  # a message names the first deploying file; data names them all


def _key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def called_modules(checked: Iterable[str]) -> set[str]:
    """The scanned Bicep files (normalised absolute paths) that a scanned Bicep file deploys,
    directly or through other modules, and that is not itself deployed by one (a cycle of
    modules alone deploys nothing: its files are judged each on its own)."""
    from . import fs
    from .bicep.files import read_regular

    scanned = {_key(p): p for p in checked if p.lower().endswith(".bicep")}
    calls: dict[str, set[str]] = {}
    for path in scanned.values():
        raw = read_regular(path, MAX_BICEP_BYTES)
        if raw is None:
            continue
        text = raw.decode("utf-8", "replace")
        if "module" not in text:
            continue
        for named in _MODULE.findall(text):
            if ":" in named:  # a registry reference
                continue
            target = fs.confine(named, os.path.dirname(os.path.abspath(path)))
            if target is not None and _key(target) in scanned and _key(target) != _key(path):
                calls.setdefault(_key(path), set()).add(_key(target))
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


def report_once(findings: list[Finding], checked: Iterable[str]) -> list[Finding]:
    checked = list(checked)
    called = called_modules(checked) if any(p.lower().endswith(".bicep") for p in checked) else set()
    kept: list[Finding] = []
    merged: dict[tuple, Finding] = {}
    for f in findings:
        callers = f.data.get("callers") if f.data else None
        if called and f.rule not in KEEP_ALWAYS and _key(_origin(f)) in called \
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
    for f in kept:
        if f.data.get("callers"):
            f.data["callers"] = sorted(f.data["callers"])
            f.message = f"{f.message} ({_deployed_by(f.data['callers'], f.path)})"
    return kept


def _deployed_by(callers: list[str], path: str) -> str:
    """The scanned files that deploy the module at `path`, as a message names them: the
    outermost file of each chain of calls, relative to the module's folder (the chains in full,
    as scanned, stay in `data["callers"]`), at most SHOWN_CALLERS."""
    roots = list(dict.fromkeys(_relative(chain.split(" > ")[0], path) for chain in callers))
    shown = ", ".join(roots[:SHOWN_CALLERS])
    more = len(roots) - SHOWN_CALLERS
    return f"deployed by {shown}" + (f" and {more} more" if more > 0 else "")


def _relative(call: str, path: str) -> str:
    """'FILE:LINE' with FILE relative to the folder of `path` (as scanned, where none exists)."""
    file, _, line = call.rpartition(":")
    try:
        file = os.path.relpath(file, os.path.dirname(path) or os.curdir)
    except ValueError:  # another drive
        pass
    return f"{file}:{line}"
