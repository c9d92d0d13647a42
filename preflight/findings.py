"""Findings: what rules report, as plain data. Formatting happens in preflight.report."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """Ordered so that `finding.severity >= fail_on` reads naturally."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    def __str__(self) -> str:  # "error", "warning", "info"
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        return cls[text.strip().upper()]


ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


@dataclass
class Issue:
    """What a rule check yields: where (a JSON pointer into the document, or an explicit
    line/column for formats without pointers) and what. The engine turns it into a Finding."""

    pointer: str
    message: str
    fix: str | None = None
    severity: Severity | None = None  # None: the rule's default severity
    line: int | None = None
    column: int | None = None
    data: dict[str, Any] = field(default_factory=dict)  # structured evidence (JSON report)
    # A note the Bicep front end made at this line and column (PF010): when it was made in a
    # module the file calls, the engine reports it in that module's file, like any finding there.
    bicep_note: bool = False


@dataclass
class Finding:
    rule: str
    name: str
    severity: Severity
    path: str
    pointer: str
    message: str
    fix: str | None = None
    line: int = 1
    column: int = 1
    data: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""  # content identity, not position (preflight.baseline); set by the filter stage

    def sort_key(self) -> tuple:
        return (self.path, self.line, self.column, self.rule, self.pointer, self.message)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "name": self.name,
            "severity": str(self.severity),
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "pointer": self.pointer,
        }
        if self.fix:
            out["fix"] = self.fix
        if self.fingerprint:  # stable across edits elsewhere in the file: merge and SARIF use it
            out["fingerprint"] = self.fingerprint
        if self.data:
            out["data"] = self.data
        return out
