"""The stable JSON report: version, findings (sorted), summary."""
from __future__ import annotations

import json
from typing import Iterator

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
    """`{"version", "findings", "summary"}` as `json.dumps(..., indent=2)` writes it."""
    return "".join(chunks(result))


def chunks(result: ScanResult, color: bool = False) -> Iterator[str]:
    """`render`'s text in pieces, one finding at a time: written as they come, a large scan's
    report never exists whole in memory (nor do the dicts of all its findings)."""
    shell = json.dumps({"version": __version__, "findings": [], "summary": summary(result)}, indent=2)
    if not result.findings:
        yield shell + "\n"
        return
    head, tail = shell.split('"findings": []', 1)
    yield f'{head}"findings": [\n'
    for i, f in enumerate(result.findings):
        item = "    " + json.dumps(f.to_json(), indent=2).replace("\n", "\n    ")
        yield item if i == 0 else ",\n" + item
    yield f"\n  ]{tail}\n"
