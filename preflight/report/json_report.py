"""The stable JSON report: version, findings (sorted), summary."""
from __future__ import annotations

import json

from .. import __version__
from ..contract import ScanResult
from ..findings import Severity


def summary(result: ScanResult) -> dict:
    counts = {str(s): 0 for s in Severity}
    for f in result.findings:
        counts[str(f.severity)] += 1
    return {
        "files": result.files,
        "findings": len(result.findings),
        "errors": counts["error"],
        "warnings": counts["warning"],
        "info": counts["info"],
    }


def render(result: ScanResult, color: bool = False) -> str:
    """`{"version", "findings", "summary"}` as `json.dumps(..., indent=2)` writes it, built one
    finding at a time, so that the dicts of a large scan's findings never all exist at once."""
    shell = json.dumps({"version": __version__, "findings": [], "summary": summary(result)}, indent=2)
    if not result.findings:
        return shell + "\n"
    head, tail = shell.split('"findings": []', 1)
    items = ",\n".join("    " + json.dumps(f.to_json(), indent=2).replace("\n", "\n    ") for f in result.findings)
    return f'{head}"findings": [\n{items}\n  ]{tail}\n'
