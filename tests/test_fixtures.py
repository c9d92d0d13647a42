"""Every file under fixtures/ gets exactly the findings it declares, of every rule family.

A finding is declared on the line it is reported at: `# expect: RULE` (YAML, conda, Python,
Dockerfile) or `// expect: RULE` (ARM JSON templates, Bicep, `.bicepparam`); several ids may
follow (`# expect: DEP030, DEP004`), one id twice for two findings on the line. A file without
markers must get no finding at all.

JSON that is not a template (v1 deployment and inference configs, parameter files) stays plain
JSON, as the tools that read it require:
  - beside a YAML twin of the same name (`v1-bad.json`, `v1-bad.yml`), it must get exactly the
    twin's findings (the same rules at the same pointers), which the twin's markers declare;
  - otherwise a sidecar `NAME.expect` (`inferenceconfig.json.expect`) declares them, one line
    each: `LINE: RULE [RULE ...]` (`#` starts a comment).

Each folder below a family folder (fixtures/deploy/DEP001, fixtures/arm/spec-a-workspace, ...) is
scanned as `preflight scan FOLDER` scans it, its `.preflight.toml` included; fixtures/demo and
fixtures/live are one project each, and a file directly in a family folder is scanned alone.
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
from preflight.engine import scan
from preflight.findings import Finding
from preflight.rulepacks import load_rule_packs

EXPECT = re.compile(r"(?:#|//)\s*expect:\s*(.*)")
RULE_ID = re.compile(r"\b[A-Z]{2,4}\d{3}\b")
SIDECAR = ".expect"
PROJECTS = ("demo", "live")  # scanned whole: their files refer to each other across folders


def units() -> list[Path]:
    found = []
    for family in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        found += [family] if family.name in PROJECTS else sorted(family.iterdir())
    return found


UNITS = units()


def fixture_files(unit: Path) -> list[Path]:
    files = [unit] if unit.is_file() else sorted(p for p in unit.rglob("*") if p.is_file())
    return [p for p in files if not p.name.endswith(SIDECAR) and p.name != ".preflight.toml"]


def declared(path: Path) -> collections.Counter:
    """(line, rule) -> count, from the file's markers or its sidecar."""
    out: collections.Counter = collections.Counter()
    sidecar = path.with_name(path.name + SIDECAR)
    if sidecar.exists():
        for line in sidecar.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                number, rules = line.split(":", 1)
                out.update((int(number), rule) for rule in RULE_ID.findall(rules))
        return out
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return out
    for number, line in enumerate(text.splitlines(), 1):
        match = EXPECT.search(line)
        if match:
            out.update((number, rule) for rule in RULE_ID.findall(match.group(1)))
    return out


def yaml_twin(path: Path) -> Path | None:
    twin = path.with_suffix(".yml")
    return twin if path.suffix == ".json" and twin.exists() else None


def scan_unit(unit: Path) -> dict[str, list[Finding]]:
    options, _ = build_options(build_parser().parse_args(["scan", str(unit)]))
    by_file: dict[str, list[Finding]] = collections.defaultdict(list)
    for f in scan([str(unit)], options).findings:
        by_file[os.path.normpath(os.path.abspath(f.path))].append(f)
    return by_file


@pytest.mark.parametrize("unit", UNITS, ids=[str(u.relative_to(FIXTURES)) for u in UNITS])
def test_each_fixture_gets_exactly_the_findings_it_declares(unit: Path):
    by_file = scan_unit(unit)
    files = fixture_files(unit)
    for path in files:
        got = by_file.pop(os.path.normpath(str(path)), [])
        twin = yaml_twin(path)
        if twin is not None and not declared(path):
            theirs = by_file.get(os.path.normpath(str(twin)), [])
            assert sorted((f.rule, f.pointer) for f in got) == sorted((f.rule, f.pointer) for f in theirs), \
                f"{path.name} and its twin {twin.name} differ"
            continue
        found, expected = collections.Counter((f.line, f.rule) for f in got), declared(path)
        assert found == expected, \
            f"{path.relative_to(FIXTURES)}: got {sorted(found.elements())}, declared {sorted(expected.elements())}"
    # every finding is about a fixture file of the unit (a finding elsewhere would go unchecked)
    assert not by_file, sorted(by_file)


def test_the_fixtures_cover_every_rule_family():
    load_rule_packs()
    families = {re.sub(r"\d+$", "", rule) for rule in REGISTRY}
    covered = {re.sub(r"\d+$", "", rule) for unit in UNITS for path in fixture_files(unit)
               for _, rule in declared(path)}
    # LIVE rules need a Key Vault endpoint: tests/test_live*.py serve one on 127.0.0.1
    assert families - covered <= {"LIVE"}, sorted(families - covered)


def test_markers_are_read_from_comments_sidecars_and_twins(tmp_path):
    marked = tmp_path / "a.yml"
    marked.write_text("x: 1  # expect: DEP030, DEP004\ny: 2 # expect: ENV005 ENV005\nz: 3\n")
    assert declared(marked) == {(1, "DEP030"): 1, (1, "DEP004"): 1, (2, "ENV005"): 2}
    config = tmp_path / "c.json"
    config.write_text("{}")
    (tmp_path / "c.json.expect").write_text("# the v1 config's end of support\n1: DEP030\n")
    assert declared(config) == {(1, "DEP030"): 1}
    assert yaml_twin(config) is None
    (tmp_path / "c.yml").write_text("{}")
    assert yaml_twin(config) == tmp_path / "c.yml"
