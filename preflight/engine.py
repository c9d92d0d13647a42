"""The rule engine: a registry of rules, and one scan from paths to sorted findings.

    discover -> load (classify + parse) -> project links -> rules -> filter -> findings

A rule is a function decorated with `@rule(...)`: its metadata sits beside its check, and its
docstring is its documentation (What it does / Why it matters / Example / How to fix).
A rule reads documents of the kinds it declares and yields `Issue`s; the engine attaches the
rule's id, name and severity and resolves positions, only for files that have findings.
"""
from __future__ import annotations

import importlib
import inspect
import os
import stat
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from .discover import Candidate, Skipped, discover
from .documents import Document, Kind, load_document
from .findings import ERROR, INFO, WARNING, Finding, Issue, Severity

DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: Severity
    kinds: frozenset[Kind]
    summary: str
    check: Callable[[Document, "Context"], Iterable[Issue]] | None
    docs: str = ""
    family: str = ""


REGISTRY: dict[str, Rule] = {}


def rule(id: str, name: str, severity: Severity, reads: Iterable[Kind] | Kind, summary: str):
    """Register a check. `reads` is the kind (or kinds) of document it is called for."""
    kinds = frozenset([reads] if isinstance(reads, Kind) else reads)

    def register(check: Callable[[Document, "Context"], Iterable[Issue]]):
        if id in REGISTRY:
            raise ValueError(f"rule id {id} registered twice")
        REGISTRY[id] = Rule(id, name, severity, kinds, summary, check,
                            docs=inspect.cleandoc(check.__doc__ or ""), family=_family(id))
        return check

    return register


def declare(id: str, name: str, severity: Severity, summary: str, docs: str) -> Rule:
    """Register a rule the engine itself emits (PF001) or one emitted by a provider."""
    r = Rule(id, name, severity, frozenset(), summary, None, docs=inspect.cleandoc(docs), family=_family(id))
    REGISTRY[id] = r
    return r


def _family(rule_id: str) -> str:
    return rule_id.rstrip("0123456789")


PF001 = declare(
    "PF001", "invalid-file", ERROR,
    "A file of a known kind cannot be read or parsed",
    """
    ## What it does
    Reports a file that looks like one preflight reads (an ARM template or parameter file, a
    conda environment, an Azure ML deploy or inference config, a scoring script) but cannot be
    decoded or parsed. The position is the parser's.

    ## Why it matters
    Azure rejects the file at deployment time, after the build has already run; and preflight
    can check nothing else in it.

    ## Example
    ```json
    { "resources": [ { "type": "Microsoft.KeyVault/vaults", } ]   // <- missing '}'
    ```

    ## How to fix
    Fix the syntax at the reported line and column.
    """,
)
PF002 = declare(
    "PF002", "file-too-large", WARNING,
    "A file over the size limit was skipped",
    """
    ## What it does
    Reports a file larger than the configured limit (`max-file-size`, 20 MB by default),
    which preflight skips without reading.

    ## Why it matters
    No real template or environment is that large; a generated or hostile file should not slow
    every commit.

    ## How to fix
    Exclude the file (`exclude` in the configuration) or raise `max-file-size`.
    """,
)
PF003 = declare(
    "PF003", "internal-error", ERROR,
    "preflight failed on this file; the rest of the scan went on",
    """
    ## What it does
    Reports an unexpected failure of preflight itself on one file, naming the exception. The
    other files are still scanned.

    ## Why it matters
    The file was not fully checked.

    ## How to fix
    Report the message and, if possible, the file to preflight's maintainers.
    """,
)


def load_rule_packs() -> None:
    """Import the built-in rule pack (and, later, third-party packs) once."""
    importlib.import_module("preflight.rules")


# --------------------------------------------------------------------------------- the scan


@dataclass
class Options:
    """Everything a scan needs besides the paths; filled from the CLI and the config."""

    select: set[str] | None = None  # None: every rule
    ignore: set[str] = field(default_factory=set)
    exclude: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)  # --param NAME=VALUE
    parameter_files: tuple[str, ...] = ()  # --parameters FILE
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    extra: dict[str, Any] = field(default_factory=dict)  # options owned by rule families


@dataclass
class Context:
    """What a rule may look at besides its document: the whole scan's documents and options."""

    options: Options
    documents: dict[str, Document]  # by absolute path
    cache: dict[str, Any] = field(default_factory=dict)  # project-wide models built once

    def document_at(self, abspath: str) -> Document | None:
        return self.documents.get(os.path.normpath(abspath))

    def model(self, key: str, build: Callable[[], Any]) -> Any:
        """Build a project-wide model once (e.g. the links between documents)."""
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]


@dataclass
class ScanResult:
    findings: list[Finding]
    files: int  # files of a known kind that were read
    documents: list[Document]


def rule_enabled(rule_id: str, options: Options) -> bool:
    if any(rule_id.startswith(i) for i in options.ignore):
        return False
    if options.select is None:
        return True
    return any(rule_id.startswith(s) for s in options.select)


def read_file(path: str, limit: int) -> bytes:
    """Read a regular file without ever blocking on a FIFO or device swapped in after discovery."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError("not a regular file")
        if st.st_size > limit:
            raise _TooLarge(st.st_size)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class _TooLarge(Exception):
    def __init__(self, size: int):
        self.size = size


def load_documents(paths: Iterable[str], options: Options) -> tuple[list[Document], list[Finding]]:
    documents: list[Document] = []
    findings: list[Finding] = []
    for item in discover(paths, options.exclude):
        if isinstance(item, Skipped):
            findings.append(_finding(PF001, item.path, "", f"{item.path}: {item.reason}", 1, 1))
            continue
        try:
            raw = read_file(item.path, options.max_file_bytes)
        except _TooLarge as exc:
            findings.append(_finding(PF002, item.path, "",
                                     f"skipped: {exc.size:,} bytes is over the {options.max_file_bytes:,}-byte limit", 1, 1))
            continue
        except OSError as exc:
            if item.explicit:
                findings.append(_finding(PF001, item.path, "", f"cannot read: {exc.strerror or exc}", 1, 1))
            continue
        try:
            doc = load_document(item.path, raw, explicit=item.explicit)
        except Exception as exc:  # noqa: BLE001 - one bad file must never stop the scan
            findings.append(_internal_error(item.path, exc))
            continue
        if doc is not None:
            documents.append(doc)
    return documents, findings


def scan(paths: Iterable[str], options: Options) -> ScanResult:
    load_rule_packs()
    documents, findings = load_documents(paths, options)
    ctx = Context(options, {os.path.normpath(d.abspath): d for d in documents})
    rules_by_kind: dict[Kind, list[Rule]] = {}
    for r in REGISTRY.values():
        if r.check is None or not rule_enabled(r.id, options):
            continue
        for kind in r.kinds:
            rules_by_kind.setdefault(kind, []).append(r)
    for doc in documents:
        findings.extend(check_document(doc, ctx, rules_by_kind.get(doc.kind, []) if doc.kind else []))
    # Internal errors always show: hiding them would hide that a file went unchecked.
    findings = [f for f in findings if f.rule == PF003.id or rule_enabled(f.rule, options)]
    findings.sort(key=Finding.sort_key)
    return ScanResult(findings, len(documents), documents)


def check_document(doc: Document, ctx: Context, rules: list[Rule]) -> list[Finding]:
    if doc.error is not None:
        e = doc.error
        return [_finding(PF001, doc.path, "", e.message, e.line, e.column)]
    out: list[Finding] = []
    for r in rules:
        try:
            for issue in r.check(doc, ctx):  # type: ignore[misc]
                out.append(to_finding(r, doc, issue))
        except Exception as exc:  # noqa: BLE001 - reported as a finding for this file
            out.append(_internal_error(doc.path, exc, r.id))
    return out


def to_finding(r: Rule, doc: Document, issue: Issue) -> Finding:
    if issue.line is not None:
        line, column = issue.line, issue.column or 1
    else:
        line, column = doc.locate(issue.pointer)
    return Finding(r.id, r.name, issue.severity or r.severity, doc.path, issue.pointer, issue.message,
                   issue.fix, line, column, issue.data)


def _finding(r: Rule, path: str, pointer: str, message: str, line: int, column: int) -> Finding:
    return Finding(r.id, r.name, r.severity, path, pointer, message, None, line, column)


def _internal_error(path: str, exc: BaseException, rule_id: str | None = None) -> Finding:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    origin = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    during = f" in rule {rule_id}" if rule_id else ""
    return Finding(PF003.id, PF003.name, PF003.severity, path, "",
                   f"internal error{during}: {type(exc).__name__}: {exc}{origin}", None, 1, 1)


def exit_code(findings: Iterable[Finding], fail_on: Severity | None) -> int:
    if fail_on is None:
        return 0
    return 1 if any(f.severity >= fail_on for f in findings) else 0


__all__ = ["ERROR", "WARNING", "INFO", "Issue", "Kind", "rule", "declare", "REGISTRY", "Rule", "Context",
           "Options", "scan", "exit_code", "Document", "Candidate"]
