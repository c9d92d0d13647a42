"""The Bicep front end against the Bicep compiler: every `.bicep` file of the shared corpora that
has the JSON `bicep build` made from it beside it (same folder and stem, or `main.bicep` and
`main.json`; the JSON says `metadata._generator.name == "bicep"`). Each side is judged on its
own, with the Key Vault rules only, and the two sets of rule ids must agree (read in place;
skipped when ../shared is absent).

A pair whose JSON inlines a registry module that Bicep's local module cache does not hold is
counted apart, and only when the Bicep side says so (its PF010 restore notice) and everything
the JSON side alone finds is inside a nested deployment: the Bicep side cannot see that module.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import SHARED

from preflight import filters
from preflight.engine import Options, scan
from preflight.findings import Finding

AVM = SHARED / "corpus-avm"
AGREEMENT = 0.95
RESTORE_NOTICE = ("('br", "is not restored, so not checked")


def compiled_by_bicep(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return False
    generator = data.get("metadata", {}).get("_generator") if isinstance(data, dict) else None
    return isinstance(generator, dict) and generator.get("name") == "bicep"


def compiled_pairs(root: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for bicep in sorted(root.rglob("*.bicep")):
        candidates = [bicep.with_suffix(".json")] + ([bicep.parent / "main.json"] if bicep.name == "main.bicep" else [])
        compiled = next((c for c in candidates if c.is_file() and compiled_by_bicep(c)), None)
        if compiled is not None:
            pairs.append((bicep, compiled))
    return pairs


def _key(path: str | Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _origins(f: Finding) -> set[str]:
    """The scanned files whose own check produced a finding (one reached through a module call
    is located in the module and names the calling chain in data["callers"])."""
    callers = f.data.get("callers") if f.data else None
    if callers:
        return {_key(chain.split(" > ")[0].rsplit(":", 1)[0]) for chain in callers}
    return {_key(f.path)}


def findings_per_file(paths: list[Path], select: set[str]) -> dict[str, list[Finding]]:
    """One scan of many files, with each file's findings as if it were scanned alone."""
    by_file: dict[str, list[Finding]] = {_key(p): [] for p in paths}
    result = scan([str(p) for p in paths], Options(select=select, jobs=1))
    assert result.files == len(paths)
    for f in result.findings:
        for origin in _origins(f):
            if origin in by_file:
                by_file[origin].append(f)
    return by_file


@dataclass
class Comparison:
    pairs: int = 0
    with_findings: int = 0  # pairs where either side finds something
    agreeing: int = 0  # of those
    registry: list[str] = field(default_factory=list)  # the Bicep side cannot see a registry module
    disagreeing: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.agreeing / max(self.with_findings - len(self.registry), 1)

    def summary(self) -> str:
        return (f"{self.pairs} pairs, {self.with_findings} with a Key Vault finding on either side, "
                f"{self.agreeing} agreeing, {len(self.registry)} with a registry module the Bicep side "
                f"cannot see, {len(self.disagreeing)} disagreeing ({self.rate:.3f})\n"
                + "\n".join(self.registry + self.disagreeing))


def _inside_a_nested_deployment(f: Finding) -> bool:
    return "/properties/template/" in f.pointer


def compare(root: Path, pairs: list[tuple[Path, Path]]) -> Comparison:
    from_bicep = findings_per_file([b for b, _ in pairs], {"KV", "PF010"})
    from_json = findings_per_file([j for _, j in pairs], {"KV"})
    out = Comparison(pairs=len(pairs))
    for bicep, compiled in pairs:
        b_found = [f for f in from_bicep[_key(bicep)] if f.rule != "PF010"]
        notices = [f for f in from_bicep[_key(bicep)] if f.rule == "PF010"
                   and all(words in f.message for words in RESTORE_NOTICE)]
        j_found = from_json[_key(compiled)]
        b_rules, j_rules = {f.rule for f in b_found}, {f.rule for f in j_found}
        if not b_rules and not j_rules:
            continue
        out.with_findings += 1
        if b_rules == j_rules:
            out.agreeing += 1
            continue
        shown = f"{bicep.relative_to(root)}: bicep {sorted(b_rules)}, json {sorted(j_rules)}"
        json_alone = [f for f in j_found if f.rule not in b_rules]
        if notices and not b_rules - j_rules and all(_inside_a_nested_deployment(f) for f in json_alone):
            out.registry.append("  registry module not restored: " + shown)
        else:
            out.disagreeing.append("  " + shown)
    return out


@pytest.fixture
def per_file_verdicts(monkeypatch, tmp_path):
    """A scan reports a finding in a module once, where it is fixed, and drops the own check of
    a module that another scanned file calls; here every file is judged on its own. An empty
    registry module cache: what is restored on this machine does not change the verdicts."""
    monkeypatch.setattr(filters, "report_once", lambda findings, checked, calls: findings)
    monkeypatch.setattr(filters.FindingFilter, "expect_deployed", lambda self, templates: None)
    monkeypatch.setenv("PREFLIGHT_BICEP_CACHE", str(tmp_path / "bicep-cache"))


def test_verified_modules_agree_with_their_compiled_json(per_file_verdicts):
    if not (AVM / "avm").is_dir():
        pytest.skip("../shared/corpus-avm is not present")
    pairs = compiled_pairs(AVM)
    assert len(pairs) == 281
    result = compare(AVM, pairs)
    print(result.summary())
    assert result.with_findings >= 20
    assert result.rate >= AGREEMENT, result.summary()


def test_corpus_bicep_files_agree_with_their_compiled_json(per_file_verdicts, corpus):
    pairs = compiled_pairs(corpus)
    assert len(pairs) == 118
    result = compare(corpus, pairs)
    print(result.summary())
    assert result.with_findings >= 12
    assert len(result.registry) <= 3  # PSRule's test cases that name public registry modules
    assert result.rate >= AGREEMENT, result.summary()
