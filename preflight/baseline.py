"""Baseline: today's findings recorded in a file, so that only new ones are reported.

`preflight scan --write-baseline FILE` records every current finding; `--baseline FILE` hides
exactly those. A finding is identified by its rule, its file (relative to the baseline file's
folder, so the baseline works from any working directory) and a content fingerprint: a hash of
the rule, the message and the content the finding points at (the value at its JSON pointer, or
the text of its line), never its line number. Edits elsewhere in the file leave it hidden; a
change to the offending content itself brings it back. Identical findings in one file are
counted: the baseline hides as many as it recorded, and any further one is new.

The same fingerprint is the SARIF `partialFingerprints` value, so code-scanning alerts stay
stable across edits.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable

from .config import relative_posix
from .digests import sha256_hex
from .documents import Document
from .findings import Finding
from .loaders import FileTooLarge, LoadError, read_json_file
from .output import OutputError, write_file

BASELINE_VERSION = 1
MAX_BASELINE_BYTES = 256 * 1024 * 1024
_MISSING = object()


class BaselineError(Exception):
    """The baseline file cannot be read or written; the CLI exits 2."""


def fingerprint(finding: Finding, doc: Document | None, lines: list[str] | None = None) -> str:
    """A stable identity of a finding that does not depend on where in the file it is."""
    subject = None
    if doc is not None and finding.pointer and isinstance(doc.data, (dict, list)):
        value = doc.get(finding.pointer, _MISSING)
        if value is not _MISSING:
            try:
                subject = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
            except (TypeError, ValueError, RecursionError):  # mixed key types, cycles (YAML anchors)
                subject = None
    if subject is None and doc is not None and doc.text:
        if lines is None:
            lines = doc.text.split("\n")
        subject = lines[finding.line - 1].strip() if 0 < finding.line <= len(lines) else ""
    return sha256_hex("\0".join((finding.rule, subject or "", finding.message)).encode("utf-8", "replace"))[:20]


def set_fingerprints(findings: Iterable[Finding], doc: Document | None) -> None:
    lines: list[str] | None = None
    for f in findings:
        if not f.fingerprint:
            if lines is None and doc is not None and doc.text:
                lines = doc.text.split("\n")
            f.fingerprint = fingerprint(f, doc, lines)


@dataclass
class Baseline:
    path: str
    counts: Counter

    @cached_property
    def folder(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))

    def key(self, f: Finding) -> tuple[str, str, str]:
        return f.rule, relative_posix(f.path, self.folder), f.fingerprint

    @classmethod
    def load(cls, path: str) -> "Baseline":
        try:
            data = read_json_file(path, MAX_BASELINE_BYTES)
        except OSError as exc:  # a folder, a FIFO or a device among them: never waited on
            raise BaselineError(f"{path}: cannot read the baseline: {exc.strerror or exc}") from None
        except FileTooLarge as exc:
            raise BaselineError(f"{path}: cannot read the baseline: {exc.size:,} bytes, over the limit of "
                                f"{MAX_BASELINE_BYTES:,}") from None
        except LoadError as exc:
            raise BaselineError(f"{path}: not a preflight baseline ({exc.message})") from None
        if not isinstance(data, dict) or not isinstance(data.get("findings"), list) \
                or data.get("preflight-baseline") != BASELINE_VERSION:
            raise BaselineError(f"{path}: not a preflight baseline (version {BASELINE_VERSION}); "
                                f"write one with `preflight scan --write-baseline {path}`")
        counts: Counter = Counter()
        for entry in data["findings"]:
            if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str)
                                                      for k in ("rule", "path", "fingerprint")):
                raise BaselineError(f"{path}: a baseline entry lacks rule, path or fingerprint: {entry!r:.120}")
            counts[(entry["rule"], entry["path"], entry["fingerprint"])] += 1
        return cls(path, counts)

    def apply(self, findings: list[Finding]) -> tuple[list[Finding], int]:
        """(the findings that are new, how many the baseline hid)."""
        left = Counter(self.counts)
        kept: list[Finding] = []
        hidden = 0
        for f in findings:
            key = self.key(f)
            if left[key] > 0:
                left[key] -= 1
                hidden += 1
            else:
                kept.append(f)
        return kept, hidden


def write(path: str, findings: Iterable[Finding]) -> int:
    """Record findings (internal errors aside) in a baseline file, atomically; returns how many."""
    folder = os.path.dirname(os.path.abspath(path))
    entries = sorted(({"rule": f.rule, "path": relative_posix(f.path, folder), "pointer": f.pointer,
                       "fingerprint": f.fingerprint, "message": f.message}
                      for f in findings if f.rule != "PF003"),  # internal errors always show
                     key=lambda e: (e["path"], e["rule"], e["pointer"], e["fingerprint"], e["message"]))
    body: dict[str, Any] = {"preflight-baseline": BASELINE_VERSION, "findings": entries}
    # A lone surrogate (a file name that is not UTF-8, a `\ud800` in a template) is written as
    # that JSON escape by write_file's error handler, and reads back as the same string.
    text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    try:
        write_file(path, text, what="baseline")
    except OutputError as exc:
        raise BaselineError(str(exc)) from None
    return len(entries)
