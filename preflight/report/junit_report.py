"""JUnit XML, as Jenkins, GitLab and Azure Pipelines read it.

One test suite per file checked; one failing test case per finding (its rule id, message and
`path:line:column`); a file without findings is one passing test case, so a clean scan still
reports tests (Jenkins fails a build whose report has none).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..engine import ScanResult
from ..findings import Finding
from . import rule_doc_url

# Characters XML 1.0 cannot carry, even escaped; messages may quote arbitrary file content.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def render(result: ScanResult, color: bool = False) -> str:
    by_path: dict[str, list[Finding]] = {p: [] for p in result.checked}
    for f in result.findings:
        by_path.setdefault(f.path, []).append(f)
    total = sum(max(1, len(fs)) for fs in by_path.values())
    root = ET.Element("testsuites", name="preflight", tests=str(total), failures=str(len(result.findings)),
                      errors="0")
    for path in sorted(by_path):
        findings = by_path[path]
        suite = ET.SubElement(root, "testsuite", name=_clean(path), tests=str(max(1, len(findings))),
                              failures=str(len(findings)), errors="0", skipped="0")
        if not findings:
            ET.SubElement(suite, "testcase", name="preflight", classname=_clean(path), file=_clean(path))
            continue
        for f in findings:
            case = ET.SubElement(suite, "testcase", name=_clean(f"{f.rule} {f.name} ({f.line}:{f.column})"),
                                 classname=_clean(path), file=_clean(path), line=str(f.line))
            failure = ET.SubElement(case, "failure", type=f"{f.rule} ({f.severity})",
                                    message=_clean(f"{f.rule}: {f.message}"))
            body = [f"{f.path}:{f.line}:{f.column}: {f.rule} [{f.severity}] {f.message}"]
            if f.fix:
                body.append(f"fix: {f.fix}")
            body.append(f"rule: {f.rule} {f.name} ({rule_doc_url(f.rule)})")
            failure.text = _clean("\n".join(body))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
