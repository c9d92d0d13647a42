"""`path:line:col: ID message`, a fix hint under it, and a summary line. Colour only on a TTY.

Each finding is one line whatever the file held: paths, messages and fixes are printed through
`untrusted.printable`, and no line starts with `::` (a workflow command in a GitHub Actions log).
"""
from __future__ import annotations

from ..contract import ScanResult
from ..findings import Severity
from .untrusted import line_start, printable

_COLORS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


def render(result: ScanResult, color: bool = False) -> str:
    lines = []
    for f in result.findings:
        where = line_start(f"{printable(f.path)}:{f.line}:{f.column}:")
        rule = f"{printable(f.rule)} [{f.severity}]"
        if color:
            where = f"{_BOLD}{where}{_RESET}"
            rule = f"{_COLORS[f.severity]}{rule}{_RESET}"
        lines.append(f"{where} {rule} {printable(f.message)}")
        if f.fix:
            hint = f"  fix: {printable(f.fix)}"
            lines.append(f"{_DIM}{hint}{_RESET}" if color else hint)
    lines.append(summary_line(result))
    return "\n".join(lines) + "\n"


def summary_line(result: ScanResult) -> str:
    counts = {s: 0 for s in Severity}
    for f in result.findings:
        counts[f.severity] += 1
    n = len(result.findings)
    files = f"{result.files} file{'s' if result.files != 1 else ''}"
    if not n:
        return f"No findings in {files}."
    detail = ", ".join(f"{counts[s]} {s}{'s' if counts[s] != 1 and s != Severity.INFO else ''}"
                       for s in (Severity.ERROR, Severity.WARNING, Severity.INFO) if counts[s])
    return f"Found {n} finding{'s' if n != 1 else ''} ({detail}) in {files}. " \
           f"Run `preflight rule ID` for a rule's documentation."
