"""The stable JSON shape of DESIGN.md: version, findings (sorted), summary."""
from __future__ import annotations

import json

from .. import __version__
from ..engine import ScanResult
from ..findings import Severity


def document(result: ScanResult) -> dict:
    counts = {str(s): 0 for s in Severity}
    for f in result.findings:
        counts[str(f.severity)] += 1
    return {
        "version": __version__,
        "findings": [f.to_json() for f in result.findings],
        "summary": {
            "files": result.files,
            "findings": len(result.findings),
            "errors": counts["error"],
            "warnings": counts["warning"],
            "info": counts["info"],
        },
    }


def render(result: ScanResult, color: bool = False) -> str:
    return json.dumps(document(result), indent=2) + "\n"
