"""Findings read well where people read them (a terminal, a CI log, a code-scanning alert): the
first line of every message is at most 160 characters, and the fix hint is one short line.
Checked on every bundled fixture, scanned from the repository root as a user runs preflight."""
from __future__ import annotations

import pytest

from conftest import FIXTURES, PINNED_TODAY, REPO
from preflight.cli import build_options, build_parser
from preflight.contract import REGISTRY
from preflight.engine import scan
from preflight.rulepacks import load_rule_packs
from preflight.rules.wording import clip, listing

FIRST_LINE = 160
FIX = 120
# Reports of the scan itself: the message is the whole story (what could not be read or was
# skipped), and there is nothing to change in the file.
NO_FIX = {"PF001", "PF002", "PF003", "PF005", "PF010"}
FOLDERS = sorted(p for p in FIXTURES.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def fixture_findings():
    """Every fixture folder scanned as `preflight scan fixtures/<folder>` from the repository root
    (the folder's own configuration included)."""
    load_rule_packs()
    found = []
    with pytest.MonkeyPatch.context() as patch:  # as conftest's autouse fixtures, for the module
        patch.setenv("PREFLIGHT_NO_CACHE", "1")
        patch.setenv("PREFLIGHT_TODAY", PINNED_TODAY)
        patch.chdir(REPO)
        for folder in FOLDERS:
            relative = str(folder.relative_to(REPO))
            options, _ = build_options(build_parser().parse_args(["scan", relative]))
            found += scan([relative], options).findings
    return found


def _too_long(findings, kv: bool) -> list[str]:
    """The findings of KV rules (or of the others) whose first line or fix hint is too long."""
    wrong = []
    for f in findings:
        if f.rule.startswith("KV") != kv:
            continue
        first = f.message.splitlines()[0] if f.message else ""
        if not first or len(first) > FIRST_LINE:
            wrong.append(f"{f.path}:{f.line}: {f.rule} message ({len(first)}): {first}")
        if f.rule not in NO_FIX and (not f.fix or "\n" in f.fix or len(f.fix) > FIX):
            wrong.append(f"{f.path}:{f.line}: {f.rule} fix ({len(f.fix or '')}): {f.fix!r}")
    return wrong


def test_the_fixtures_were_really_checked(fixture_findings):
    rules = {f.rule for f in fixture_findings}
    # One family each at least: a scan that found nothing would pass every length check.
    assert {"DEP003", "DEP030", "ENV003", "SCR007", "KV001", "KV019", "PF001", "PF010"} <= rules, sorted(rules)
    assert len(fixture_findings) > 300


def test_first_lines_and_fix_hints_are_short(fixture_findings):
    """A message's first line is at most 160 characters; every rule but the scan's own reports
    (NO_FIX) gives a fix hint of one line of at most 120."""
    assert NO_FIX <= set(REGISTRY)
    assert _too_long(fixture_findings, kv=False) == []


def test_key_vault_first_lines_and_fix_hints_are_short(fixture_findings):
    """The same for the Key Vault (KV) rules, on their own: their messages are being shortened
    in preflight/rules/keyvault.py; this lists every KV finding that does not fit yet."""
    assert _too_long(fixture_findings, kv=True) == []


def test_listing_cuts_a_long_list_and_clip_keeps_both_ends():
    assert listing([]) == "" and listing(["a"]) == "a" and listing(["a", "b", "c"]) == "a, b and c"
    assert listing(["a", "b"], sentence=False) == "a, b"
    assert listing([f"value-{i}" for i in range(20)], 30) == "value-0, value-1, value-2 and 17 more"
    assert listing(["x" * 80, "y"], 30) == "x" * 80 + " and 1 more"  # one is always shown
    url = "git+https://github.com/org/a-long-repository-name#subdirectory=the-package"
    short = clip(url, 40)
    assert len(short) == 40 and short.startswith("git+https://github") and short.endswith("the-package")
    assert clip("short", 40) == "short"
