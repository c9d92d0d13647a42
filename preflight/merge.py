"""`preflight merge`: several JSON reports of `preflight scan --format json` (CI shards) as one.

The output is deterministic: the same reports in any order give byte-identical output. Findings
are sorted as a scan sorts them (path, line, column, rule) and de-duplicated: a finding is
identified by its rule, path, line, column, pointer and message, and by its fingerprint when it
carries one (two findings that agree on everything else but have different fingerprints are two
findings; one without a fingerprint is the same as any that agrees on the rest). When shards
disagree about the details of one finding (its severity after a `[severity]` override, its fix),
the highest severity is kept, then the first in canonical JSON order.

The summary is recomputed from the merged findings. `files` is the sum of the reports'
`summary.files`: shards split by folder scan disjoint files. A report that lists the paths it
checked (`"checked": [...]`) contributes those paths instead, and a path checked by several such
reports counts once.

Paths are kept as the reports give them (as given to each shard's scan), so every shard and the
merge should run from the same folder, the repository root. A file that is not a preflight JSON
report, or reports of another major version than this preflight's, are refused (exit 2).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable

from . import __version__
from .findings import Finding, Severity
from .loaders import FileTooLarge, LoadError, read_json_file

FORMATS = ("json", "sarif")
MAX_REPORT_BYTES = 256 * 1024 * 1024
_SEVERITIES = {str(s) for s in Severity}
_VERSION = re.compile(r"(\d+)\.\d+")
_REQUIRED = (("rule", str), ("name", str), ("severity", str), ("path", str), ("line", int), ("column", int),
             ("message", str), ("pointer", str))


class MergeError(Exception):
    """A report cannot be merged; the CLI exits 2 with this message."""


@dataclass
class Report:
    path: str
    version: str
    findings: list[Finding]
    files: int
    checked: list[str] | None  # the paths the scan checked, when the report lists them


def _not_a_report(path: str, why: str) -> MergeError:
    return MergeError(f"{path}: not a preflight JSON report ({why}); "
                      f"write one with `preflight scan --format json --output FILE`")


def _finding(path: str, i: int, entry: Any) -> Finding:
    if not isinstance(entry, dict):
        raise _not_a_report(path, f"findings[{i}] is not an object")
    for key, kind in _REQUIRED:
        value = entry.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            kind_name = "an integer" if kind is int else "a string"
            raise _not_a_report(path, f"findings[{i}].{key} is missing or not {kind_name}")
    if entry["severity"] not in _SEVERITIES:
        raise _not_a_report(path, f"findings[{i}].severity {entry['severity']!r} is not error, warning or info")
    fix, data, fingerprint = entry.get("fix"), entry.get("data", {}), entry.get("fingerprint", "")
    if (fix is not None and not isinstance(fix, str)) or not isinstance(data, dict) \
            or not isinstance(fingerprint, str):
        raise _not_a_report(path, f"findings[{i}] has a fix, data or fingerprint of the wrong type")
    return Finding(rule=entry["rule"], name=entry["name"], severity=Severity.parse(entry["severity"]),
                   path=entry["path"], pointer=entry["pointer"], message=entry["message"], fix=fix or None,
                   line=entry["line"], column=entry["column"], data=data, fingerprint=fingerprint)


def load_report(path: str) -> Report:
    try:
        doc = read_json_file(path, MAX_REPORT_BYTES)
    except FileNotFoundError:
        raise MergeError(f"{path}: no such file") from None
    except OSError as exc:  # a folder, a FIFO or a device among them: never waited on
        raise MergeError(f"{path}: cannot read the report: {exc.strerror or exc}") from None
    except FileTooLarge as exc:
        raise MergeError(f"{path}: cannot read the report: {exc.size:,} bytes, over the limit of "
                         f"{MAX_REPORT_BYTES:,}") from None
    except LoadError as exc:
        raise _not_a_report(path, exc.message) from None
    if isinstance(doc, dict) and "runs" in doc and "findings" not in doc:
        raise _not_a_report(path, "a SARIF log; merge reads JSON reports and can write SARIF")
    if isinstance(doc, dict) and "preflight-baseline" in doc:
        raise _not_a_report(path, "a baseline")
    if not isinstance(doc, dict):
        raise _not_a_report(path, "not a JSON object")
    version, findings, summary = doc.get("version"), doc.get("findings"), doc.get("summary")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise _not_a_report(path, "no version")
    if not isinstance(findings, list):
        raise _not_a_report(path, "no findings list")
    if not isinstance(summary, dict) or not isinstance(summary.get("files"), int) \
            or isinstance(summary["files"], bool) or summary["files"] < 0:
        raise _not_a_report(path, "no summary.files")
    checked = doc.get("checked")
    if checked is not None and not (isinstance(checked, list) and all(isinstance(p, str) for p in checked)):
        raise _not_a_report(path, "checked is not a list of paths")
    return Report(path, version, [_finding(path, i, e) for i, e in enumerate(findings)], summary["files"], checked)


def _major(version: str) -> int:
    m = _VERSION.match(version)
    return int(m.group(1)) if m else -1


def check_versions(reports: list[Report]) -> None:
    """Every report must come from this preflight's major version (the output is rendered with
    this version's rule metadata and claims its version)."""
    mine = _major(__version__)
    for r in sorted(reports, key=lambda r: r.path):
        if _major(r.version) != mine:
            others = sorted({o.version for o in reports if _major(o.version) == mine} | {__version__})
            raise MergeError(f"{r.path}: report of preflight {r.version}, major version {_major(r.version)}; "
                             f"cannot merge it with reports of version {', '.join(others)} (major {mine}): "
                             f"scan every shard and merge with the same preflight")


def _canonical(f: Finding) -> str:
    return json.dumps({**f.to_json(), "fingerprint": f.fingerprint}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), default=str)


def _pick(group: list[Finding]) -> Finding:
    """One finding for several reports of it, whatever their order: the highest severity, then
    the first in canonical JSON order."""
    return min(group, key=lambda f: (-f.severity, _canonical(f)))


def dedupe(findings: Iterable[Finding]) -> list[Finding]:
    groups: dict[tuple, list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.rule, f.path, f.line, f.column, f.pointer, f.message), []).append(f)
    out: list[Finding] = []
    for group in groups.values():
        prints = sorted({f.fingerprint for f in group if f.fingerprint})
        if not prints:
            out.append(_pick(group))
        else:  # a finding without a fingerprint is the same as any with one that agrees on the rest
            out.extend(_pick([f for f in group if f.fingerprint == p]) for p in prints)
    out.sort(key=lambda f: (f.sort_key(), f.fingerprint, _canonical(f)))
    return out


def count_files(reports: list[Report]) -> tuple[int, list[str]]:
    """(files checked, the paths known to be checked): listed paths count once each; the files
    of a report that lists none are added as its summary says."""
    listed = sorted({p for r in reports if r.checked is not None for p in r.checked})
    return len(listed) + sum(r.files for r in reports if r.checked is None), listed


def merge(paths: Iterable[str]):
    """Read, check and merge the reports at `paths` into a ScanResult."""
    from .contract import ScanResult

    seen: set[str] = set()
    reports = []
    for path in paths:
        key = os.path.realpath(path)
        if key not in seen:  # the same file named twice counts once
            seen.add(key)
            reports.append(load_report(path))
    check_versions(reports)
    files, checked = count_files(reports)
    return ScanResult(dedupe(f for r in reports for f in r.findings), files, checked)


def render(result, fmt: str) -> str:
    """The merged report: JSON as `scan --format json` writes it, or SARIF from the SARIF reporter."""
    if fmt == "sarif":
        from .report.sarif_report import render_findings

        return render_findings(result.findings)
    from .report.json_report import render as render_json

    return render_json(result)
