"""The filter stage: which findings are reported, at what severity.

In order: the configuration that governs each file (select / extend-select / ignore, then the
command line, then per-file-ignores; `exclude` keeps files out of the scan altogether); inline
suppressions (`preflight.suppress`), with a PF004 finding for each suppression that hid nothing;
severity overrides; the content fingerprint of each finding; the baseline (`--baseline`).

Documents are released as soon as they are checked, so everything that needs a document's text
happens in `document()`, right after its rules ran. Findings that come later (the live check) or
without a document (an unreadable file) are settled in `finish()`.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterable

from .baseline import set_fingerprints
from .config import Config, rule_filter
from .contract import REGISTRY, Options, Rule
from .definitions import JUDGED_ON_ITS_OWN_TEXT, ModuleCalls, file_key, report_once
from .documents import Document
from .findings import Finding, Severity
from .rules.scan import PF003, PF004
from .suppress import Suppression, has_suppressions, parse


_RULE_LISTS_KEPT = 64


class FindingFilter:
    def __init__(self, options: Options, lookup: Callable[[str], Document | None] | None = None):
        self.options = options
        self.lookup = lookup  # path -> Document, for findings that arrive after their document
        self.checked: list[str] = []  # every document checked, in order
        self.baselined = 0  # findings the baseline hid
        self._late: dict[str, list[Suppression]] = {}  # suppressions of released documents
        # The last path asked about, its rule selection and configuration: findings come
        # grouped by file, and each file's rules are chosen right before its findings are filtered.
        self._current: tuple[str, Callable[[str], bool], Config | None] | None = None
        self._selections: dict[tuple, Callable[[str], bool]] = {}  # configurations live as long as the scan
        # (selection, list of rules, judged by callers) -> the rules that run: the same for every
        # file of a kind under one configuration. Each entry holds its selection and list, so
        # the ids in its key stay theirs.
        self._rule_lists: dict[tuple[int, int, bool], tuple[Callable[[str], bool], list[Rule], list[Rule]]] = {}
        self.module_calls = ModuleCalls()  # what each template read deploys (read as the scan reads it)
        self._deployed: frozenset[str] = frozenset()  # files expected to be judged through their callers
        self._judged: tuple[str | None, bool] = (None, False)  # the last path asked about, and the answer

    # ------------------------------------------------------------------ configuration

    def config(self, path: str) -> Config | None:
        configs = self.options.configs
        return configs.for_file(path) if configs is not None else None

    def excluded(self, path: str) -> bool:
        """Excluded by the `exclude` of the file's configuration (files named explicitly too,
        so pre-commit honours it)."""
        configs = self.options.configs
        return configs is not None and configs.excluded(path)

    def selection(self, path: str) -> Callable[[str], bool]:
        """Whether a rule is enabled for `path`; decided once per configuration and set of
        per-file-ignores, not once per file."""
        return self._settled(path)[1]

    def _settled(self, path: str) -> tuple[str, Callable[[str], bool], Config | None]:
        """(path, its rule selection, its configuration)."""
        if self._current is not None and self._current[0] == path:
            return self._current
        config = self.config(path)
        key = (id(config), tuple(config.ignores_for(path)) if config is not None else ())
        enabled = self._selections.get(key)
        if enabled is None:
            decide = rule_filter(self.options.select, self.options.ignore, config, path)
            enabled = self._selections[key] = functools.lru_cache(maxsize=None)(decide)
        self._current = (path, enabled, config)
        return self._current

    def rules_for(self, doc: Document, rules: Iterable[Rule], full: bool = False) -> list[Rule]:
        """The rules to run on a document: those its configuration enables. A file another
        scanned file deploys is judged through its callers' values (preflight.definitions): what
        its own check finds with its defaults is dropped, so only the rules whose findings stay
        run (`full`: all the same). Unless it has inline suppressions, which the dropped
        findings would have used (PF004)."""
        enabled = self.selection(doc.path)
        own_text = not full and self.judged_by_callers(doc.path) and not has_suppressions(doc)
        if not isinstance(rules, list) or not rules:
            return _chosen(rules, enabled, own_text)
        key = (id(enabled), id(rules), own_text)
        known = self._rule_lists.get(key)
        if known is None or known[0] is not enabled or known[1] is not rules:
            if len(self._rule_lists) >= _RULE_LISTS_KEPT:  # a caller making a list per file (fix)
                self._rule_lists.clear()
            known = self._rule_lists[key] = (enabled, rules, _chosen(rules, enabled, own_text))
        return list(known[2])

    def expect_deployed(self, templates: list[str]) -> None:
        """Before any check: the files to judge through their callers, if `templates` (the
        files that will be checked as templates) are all checked."""
        self._deployed = frozenset(self.module_calls.called(templates))
        self._judged = (None, False)

    def judged_by_callers(self, path: str) -> bool:
        if not self._deployed:
            return False
        if self._judged[0] != path:  # asked when a file's rules are chosen, and after its check
            self._judged = (path, file_key(path) in self._deployed)
        return self._judged[1]

    def judged_alone_after_all(self, items: list[Any]) -> list[Any]:
        """Of the files whose check ran only the rules of their own text, those that no checked
        file deploys after all (a caller that did not load as a template)."""
        if not items:
            return []
        called = self.module_calls.called(self.checked)
        return [item for item in items if file_key(item.path) not in called]

    # ------------------------------------------------------------------ per document

    def document(self, doc: Document, findings: list[Finding], rules: list[Rule]) -> list[Finding]:
        """Apply a checked document's inline suppressions and fingerprint its findings."""
        suppressions = parse(doc) if doc.text else []
        if suppressions:  # (a finding located in a module file meets that file's suppressions later)
            findings = [f for f in findings if f.path != doc.path or not _hidden(suppressions, f)]
            if doc.error is None:
                findings += self._unused(doc, suppressions, rules)
            self._late[doc.path] = suppressions
        set_fingerprints(findings, doc)
        return findings

    def release(self, path: str) -> list[Suppression] | None:
        """A checked document's suppressions, handed over by whoever checked it (a worker process
        returns them with its findings); `record` takes them back in the scanning process."""
        return self._late.pop(path, None)

    def record(self, path: str, suppressions: list[Suppression] | None) -> None:
        self.checked.append(path)
        if suppressions:
            self._late[path] = suppressions

    def _unused(self, doc: Document, suppressions: list[Suppression], rules: list[Rule]) -> list[Finding]:
        enabled = self.selection(doc.path)
        ran = {r.id for r in rules}
        out = []
        for s in suppressions:
            if not s.selectors:
                out.append(_pf004(doc, s, "", "suppression names no rule: write `ignore[RULE-ID, ...]`",
                                  "name the rules to ignore, or remove the suppression"))
            for sel in s.selectors:
                if sel in s.used:
                    continue
                matching = [r for r in REGISTRY.values() if r.id.startswith(sel)]
                if not matching:
                    message = f"suppression names an unknown rule '{sel}'"
                elif any(r.id in ran for r in matching):
                    message = f"unused suppression: no {sel} finding {_scope(s)}"
                elif any(r.check is not None and enabled(r.id) for r in matching):
                    message = f"unused suppression: {sel} does not check this kind of file"
                else:  # the rule is off here, or reported by a check this scan may not run
                    continue
                out.append(_pf004(doc, s, sel, message, f"remove '{sel}' from the suppression"))
        return out

    # ------------------------------------------------------------------ whole scan

    def finish(self, findings: list[Finding]) -> list[Finding]:
        """Configuration and severity for every finding; suppressions and fingerprints for those
        that arrived without their document; then the baseline."""
        kept: list[Finding] = []
        for f in findings:
            if f.rule == PF003.id:  # internal errors always show: a file went unchecked
                kept.append(f)
                continue
            if f.data.get("callers"):  # found in a module file by the check of a file deploying it
                late = self._late.get(f.path)
                if late and _hidden(late, f):
                    continue
            elif not f.fingerprint:
                late = self._late.get(f.path)
                if late and _hidden(late, f):
                    continue
                doc = self.lookup(f.path) if self.lookup is not None and f.pointer else None
                set_fingerprints([f], doc)
            _, enabled, config = self._settled(f.path)  # findings come grouped by file: one lookup each
            if not enabled(f.rule):
                continue
            override = config.severity_for(f.rule) if config is not None else None
            if override is not None:
                f.severity = Severity.parse(override)
            kept.append(f)
        kept = report_once(kept, self.checked, self.module_calls)
        baseline = self.options.baseline
        if baseline is not None:
            internal = [f for f in kept if f.rule == PF003.id]
            kept, self.baselined = baseline.apply([f for f in kept if f.rule != PF003.id])
            kept += internal
        return kept


def _chosen(rules: Iterable[Rule], enabled: Callable[[str], bool], own_text: bool) -> list[Rule]:
    """The rules `enabled` turns on; with `own_text`, only those judging a file on its own text."""
    if own_text:
        return [r for r in rules if r.id in JUDGED_ON_ITS_OWN_TEXT and enabled(r.id)]
    return [r for r in rules if enabled(r.id)]


def _hidden(suppressions: list[Suppression], finding: Finding) -> bool:
    if finding.rule in (PF003.id, PF004.id):
        return False
    hit = False
    for s in suppressions:
        selector = s.hides(finding)
        if selector is not None:
            s.used.add(selector)
            hit = True
    return hit


def _scope(s: Suppression) -> str:
    if s.scope == "file":
        return "in this file"
    if s.scope == "lines":
        return "on line " + " or ".join(map(str, s.lines))
    return "in this template" if not s.prefix else f"under {s.prefix}"


def _pf004(doc: Document, s: Suppression, selector: str, message: str, fix: str) -> Finding:
    pointer = s.where(selector)
    line, column = (s.line, s.column) if s.scope != "object" else doc.locate(pointer)
    return Finding(PF004.id, PF004.name, PF004.severity, doc.path, pointer, message, fix, line, column)

