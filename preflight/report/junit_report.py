"""JUnit XML, as Jenkins, GitLab and Azure Pipelines read it.

One test suite per file checked; one failing test case per finding (its rule id, message and
`path:line:column`); a file without findings is one passing test case, so a clean scan still
reports tests (Jenkins fails a build whose report has none). Paths, messages and fixes are made
printable (`untrusted.printable`): a test name is one line, and the XML holds no character
XML 1.0 cannot carry (messages quote file content).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from ..contract import ScanResult
from ..findings import Finding
from . import rule_doc_url
from .untrusted import printable


def render(result: ScanResult, color: bool = False) -> str:
    by_path: dict[str, list[Finding]] = {p: [] for p in result.checked}
    for f in result.findings:
        by_path.setdefault(f.path, []).append(f)
    total = sum(max(1, len(fs)) for fs in by_path.values())
    root = ET.Element("testsuites", name="preflight", tests=str(total), failures=str(len(result.findings)),
                      errors="0")
    for path in sorted(by_path):
        findings = by_path[path]
        shown = printable(path)
        suite = ET.SubElement(root, "testsuite", name=shown, tests=str(max(1, len(findings))),
                              failures=str(len(findings)), errors="0", skipped="0")
        if not findings:
            ET.SubElement(suite, "testcase", name="preflight", classname=shown, file=shown)
            continue
        for f in findings:
            rule, name, message = printable(f.rule), printable(f.name), printable(f.message)
            case = ET.SubElement(suite, "testcase", name=f"{rule} {name} ({f.line}:{f.column})",
                                 classname=shown, file=shown, line=str(f.line))
            failure = ET.SubElement(case, "failure", type=f"{rule} ({f.severity})", message=f"{rule}: {message}")
            body = [f"{shown}:{f.line}:{f.column}: {rule} [{f.severity}] {message}"]
            if f.fix:
                body.append(f"fix: {printable(f.fix)}")
            body.append(f"rule: {rule} {name} ({rule_doc_url(rule)})")
            failure.text = "\n".join(body)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
