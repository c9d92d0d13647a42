"""Generated and hand-written docs stay true: docs/rules.md, and the README's recipes."""
from __future__ import annotations

import re
import shlex

import pytest
import yaml

from conftest import REPO, run_cli
from preflight.cli import build_parser
from preflight.config import load_config

REGENERATE = "preflight rules --format markdown > docs/rules.md"
README = (REPO / "README.md").read_text()


def test_rules_md_is_fresh():
    proc = run_cli("rules", "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    path = REPO / "docs" / "rules.md"
    current = path.read_text() if path.exists() else ""
    assert current == proc.stdout, \
        f"docs/rules.md is stale: regenerate it with `{REGENERATE}` (from the repository root)"


def test_rules_md_has_a_section_per_rule():
    from preflight.contract import REGISTRY
    from preflight.rulepacks import load_rule_packs

    load_rule_packs()
    text = (REPO / "docs" / "rules.md").read_text()
    headings = re.findall(r"^## (\S+)$", text, re.M)
    assert sorted(headings) == sorted(REGISTRY), f"regenerate with `{REGENERATE}`"


# Citations of documents users do not have (the project's internal specification and design
# notes): user-facing docs name the public source instead.
PRIVATE_CITATION = re.compile(r"\bSPEC\b\s*§?\s*\d|\bDESIGN\b")


def test_generated_rule_docs_and_readme_cite_no_private_document():
    generated = run_cli("rules", "--format", "markdown")
    assert generated.returncode == 0, generated.stderr
    assert "## ENV005" in generated.stdout  # the rule docs were really produced
    for name, text in (("preflight rules --format markdown", generated.stdout), ("README.md", README),
                       ("CONTRIBUTING.md", (REPO / "CONTRIBUTING.md").read_text())):
        cited = [line for line in text.splitlines() if PRIVATE_CITATION.search(line)]
        assert cited == [], f"{name} cites a document users do not have: {cited}"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.S | re.M)


def test_readme_configuration_example_is_valid(tmp_path):
    [example] = [b for b in _blocks("toml") if "per-file-ignores" in b]
    (tmp_path / ".preflight.toml").write_text(example)
    config = load_config(str(tmp_path / ".preflight.toml"))
    assert config.get("severity")["ENV005"] == "error"


def test_readme_yaml_snippets_parse_and_their_commands_exist():
    parser = build_parser()
    commands = []
    for block in _blocks("yaml"):
        data = yaml.safe_load(block)
        assert data is not None
        commands += re.findall(r"(?:^|[\s:-])(preflight scan [^\n\"]*)", block)
    for block in _blocks("bash"):
        lines = block.replace("\\\n", " ").splitlines()
        commands += [line.split("#")[0].strip() for line in lines if line.startswith("preflight scan")]
    assert len(commands) >= 4
    for command in commands:
        argv = shlex.split(command)[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits on an unknown flag or a bad choice
            pytest.fail(f"README command does not parse: {command!r} ({exc})")
