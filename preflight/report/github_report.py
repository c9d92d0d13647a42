"""GitHub Actions workflow commands: each finding becomes an annotation on the pull request.

`::error file=infra/kv.json,line=12,col=9,title=KV001::message` (warning and notice for the
lower severities), the fix on a second line. Values are escaped as the runner expects: `%`, CR and LF everywhere, and
`:` and `,` inside properties. Paths are as given, so run preflight from the repository root.
File content is first made printable (`untrusted.printable`: no controls, no ESC), so each
command is one line and its text shows as it is.
"""
from __future__ import annotations

import os

from ..contract import ScanResult
from ..findings import Severity
from .untrusted import printable

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _relative(path: str) -> str:
    """Annotations need paths from the repository root (the working directory in a workflow)."""
    if os.path.isabs(path):
        rel = os.path.relpath(path)
        return path if rel.startswith("..") else rel.replace(os.sep, "/")
    path = path.replace(os.sep, "/")
    return path[2:] if path.startswith("./") else path


def render(result: ScanResult, color: bool = False) -> str:
    lines = []
    for f in result.findings:
        path = printable(_relative(f.path))
        message = printable(f.message)
        if f.fix:
            message += f"\nfix: {printable(f.fix)}"
        props = f"file={_property(path)},line={f.line},col={f.column},title={_property(printable(f.rule))}"
        lines.append(f"::{COMMANDS[f.severity]} {props}::{_data(message)}")
    return "".join(line + "\n" for line in lines)
