"""Every DEP and SCR rule against its fixtures: fixtures/deploy/<RULE>/ and fixtures/scoring/<RULE>/
(tests/test_fixtures.py checks every finding of every fixture; this checks each folder's rule).

A file named `*-bad.*` / `*_bad.*` must get the folder's rule exactly on the lines marked
`# expect: RULE` (`// expect: RULE` in ARM templates; a v1 JSON config, which has no comments,
must get the same findings as its YAML twin); a `*-good.*` / `*_good.*` file must get no DEP or
SCR finding at all; any other file of the folder (a script a config points at) must not get the folder's rule.
"""
from __future__ import annotations

import collections
import os
import re
from pathlib import Path

import pytest

from conftest import FIXTURES
from preflight.cli import build_options, build_parser
from preflight.contract import REGISTRY
from preflight.rulepacks import load_rule_packs
from preflight.engine import scan

RULE_DIRS = sorted(p for root in ("deploy", "scoring") for p in (FIXTURES / root).glob("[A-Z]*[0-9]") if p.is_dir())
EXPECT = re.compile(r"(?:#|//)\s*expect:\s*(.*)")
RULE_ID = re.compile(r"\b[A-Z]{2,4}\d{3}\b")


def scan_folder(folder: Path):
    """A scan as `preflight scan FOLDER` runs it (the folder's .preflight.toml included)."""
    options, _ = build_options(build_parser().parse_args(["scan", str(folder)]))
    return scan([str(folder)], options).findings


def role(path: Path) -> str:
    stem = path.name.split(".")[0]
    if stem.endswith(("-bad", "_bad")):
        return "bad"
    if stem.endswith(("-good", "_good")):
        return "good"
    return "support"


def expected_lines(path: Path, rule_id: str) -> list[int]:
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = EXPECT.search(line)
        if match:
            lines += [number] * RULE_ID.findall(match.group(1)).count(rule_id)
    return lines


def test_every_dep_and_scr_rule_has_fixtures():
    load_rule_packs()
    # SCR006 needs a package index (`--resolve`): tests/test_resolve.py serves one on 127.0.0.1.
    ids = {r for r in REGISTRY if r.startswith(("DEP", "SCR"))} - {"SCR006"}
    covered = {d.name for d in RULE_DIRS}
    assert ids and ids <= covered, sorted(ids - covered)
    for folder in RULE_DIRS:
        roles = collections.Counter(role(p) for p in folder.rglob("*") if p.is_file())
        assert roles["bad"] and roles["good"], folder.name


@pytest.mark.parametrize("folder", RULE_DIRS, ids=[d.name for d in RULE_DIRS])
def test_rule_fixtures(folder: Path):
    rule_id = folder.name
    findings = scan_folder(folder)
    by_file = collections.defaultdict(list)
    for f in findings:
        by_file[os.path.normpath(os.path.abspath(f.path))].append(f)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".yml", ".py")):
        got = by_file[os.path.normpath(str(path))]
        mine = [f for f in got if f.rule == rule_id]
        kind = role(path)
        if kind == "good":
            # every v1 file gets DEP030 (end of support): a good v1 file is good at everything else
            noisy = [f"{f.rule} {f.line}: {f.message}" for f in got if f.rule.startswith(("DEP", "SCR", "PF"))
                     and (f.rule != "DEP030" or rule_id == "DEP030")]
            assert not noisy, f"{path.name}: {noisy}"
        elif kind == "support":
            assert not mine, f"{path.name}: {[f.message for f in mine]}"
        elif path.suffix == ".json" and path.with_suffix(".yml").exists():
            twin = path.with_suffix(".yml")
            theirs = [f for f in by_file[os.path.normpath(str(twin))] if f.rule == rule_id]
            assert mine, f"{path.name}: no {rule_id}"
            assert sorted((f.pointer, f.message, f.severity) for f in mine) == \
                sorted((f.pointer, f.message, f.severity) for f in theirs), path.name
        else:
            expected = expected_lines(path, rule_id)
            assert expected, f"{path.name} marks no '# expect: {rule_id}' line"
            assert sorted(f.line for f in mine) == sorted(expected), \
                f"{path.name}: {[(f.line, f.message) for f in mine]}"


def test_batch_deployments_are_not_judged_by_online_rules():
    findings = scan_folder(FIXTURES / "deploy" / "batch")
    assert not [(f.rule, f.message) for f in findings if f.rule.startswith("DEP")]
