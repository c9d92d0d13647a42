"""SARIF 2.1.0, ready for GitHub code scanning (`github/codeql-action/upload-sarif`).

One run; `tool.driver.rules` describes every rule (summary, the first paragraph of "What it
does", the full documentation as help, a help URI into docs/rules.md, the default level).
Results carry the rule, the level, the message, a location relative to the scan root (the
working directory, `%SRCROOT%`) and a content fingerprint (see preflight.baseline) under
`partialFingerprints`, so alerts follow the code across edits. `primaryLocationLineHash` is left
to the upload action, which computes it itself.

Text from the scanned files (messages, fixes, pointers) is made printable (`untrusted.printable`),
so the log is valid UTF-8 whatever a template held; a file name that is not UTF-8 is a URI
percent-encoded from its bytes.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from .. import __version__
from ..contract import REGISTRY, Rule, ScanResult
from ..rulepacks import load_rule_packs
from ..findings import Finding, Severity
from . import RULES_DOC_URL, rule_doc_url
from .untrusted import printable

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "preflight/v1"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render(result: ScanResult, color: bool = False) -> str:
    return render_findings(result.findings)


def render_findings(findings: Iterable[Finding], root: str | None = None) -> str:
    """The SARIF log of findings from anywhere (a scan, or merged reports: `preflight merge`)."""
    return json.dumps(findings_document(findings, root), indent=2, ensure_ascii=False) + "\n"


def document(result: ScanResult, root: str | None = None) -> dict[str, Any]:
    return findings_document(result.findings, root)


def findings_document(findings: Iterable[Finding], root: str | None = None) -> dict[str, Any]:
    load_rule_packs()
    root = os.path.abspath(root or os.getcwd())
    rules = sorted(REGISTRY.values(), key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "preflight",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": RULES_DOC_URL,
            "rules": [_descriptor(r) for r in rules],
        }},
        "originalUriBaseIds": {SRCROOT: {"uri": Path(root).as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "invocations": [{"executionSuccessful": True}],
        "results": [_result(f, index, root) for f in findings],
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _descriptor(r: Rule) -> dict[str, Any]:
    level = LEVELS[r.severity]
    help_text = f"{r.summary}\n\n{r.docs}" if r.docs else r.summary
    return {
        "id": r.id,
        "name": _pascal(r.name),
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": _what_it_does(r) or r.summary},
        "help": {"text": help_text, "markdown": f"**{r.id} {r.name}**: {help_text}"},
        "helpUri": rule_doc_url(r.id),
        "defaultConfiguration": {"level": level},
        "properties": {"tags": ["preflight", r.family] if r.family else ["preflight"],
                       "preflight-name": r.name},
    }


def _pascal(name: str) -> str:
    """SARIF rule names are identifiers: `keyvault-access-policies-wiped` -> `KeyvaultAccessPoliciesWiped`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part) or "Rule"


def _what_it_does(r: Rule) -> str:
    m = re.search(r"^##\s*What it does\s*\n(.*?)(?:\n\s*\n|\n##|\Z)", r.docs, re.S | re.M)
    return " ".join(m.group(1).split()) if m else ""


def _result(f: Finding, index: dict[str, int], root: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": printable(f.rule),
        "level": LEVELS[f.severity],
        "message": {"text": printable(f.message or f.rule)},
        "locations": [{"physicalLocation": {
            "artifactLocation": artifact(f.path, root),
            "region": {"startLine": max(1, f.line), "startColumn": max(1, f.column)},
        }}],
    }
    if f.rule in index:
        out["ruleIndex"] = index[f.rule]
    if f.fingerprint:
        out["partialFingerprints"] = {FINGERPRINT_KEY: f.fingerprint}
    properties: dict[str, Any] = {}
    if f.pointer:
        properties["pointer"] = printable(f.pointer)
    if f.fix:
        properties["fix"] = printable(f.fix)
    if properties:
        out["properties"] = properties
    return out


def artifact(path: str, root: str) -> dict[str, Any]:
    """A URI relative to the scan root when the file is under it; an absolute file URI if not.
    Both are percent-encoded from the name's bytes (os.fsencode), so a name that is not UTF-8 is
    the URI of its own bytes."""
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, root)
    except ValueError:  # another drive (Windows)
        rel = ".."
    if rel == ".." or rel.startswith(".." + os.sep):
        return {"uri": Path(absolute).as_uri()}
    return {"uri": quote(os.fsencode(rel.replace(os.sep, "/"))), "uriBaseId": SRCROOT}
