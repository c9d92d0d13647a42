from preflight.engine import REGISTRY, Context, Options, load_rule_packs, scan, to_finding
from preflight.findings import ERROR, WARNING, Finding, Issue, Severity


def test_every_rule_documents_itself():
    load_rule_packs()
    for r in REGISTRY.values():
        assert r.id[:2].isalpha() and r.name and r.summary, r.id
        for heading in ("What it does", "Why it matters", "How to fix"):
            assert heading in r.docs, f"{r.id} docs lack '{heading}'"


def test_findings_sort_by_path_line_column_rule():
    fs = [Finding("B1", "b", ERROR, "b.json", "", "m", line=1, column=1),
          Finding("A2", "a", ERROR, "a.json", "", "m", line=5, column=2),
          Finding("A1", "a", WARNING, "a.json", "", "m", line=5, column=2),
          Finding("A3", "a", ERROR, "a.json", "", "m", line=2, column=9)]
    assert [f.rule for f in sorted(fs, key=Finding.sort_key)] == ["A3", "A1", "A2", "B1"]


def test_severity_order_and_parse():
    assert Severity.ERROR > Severity.WARNING > Severity.INFO
    assert Severity.parse("Warning") is Severity.WARNING and str(Severity.INFO) == "info"


def test_exception_in_a_rule_becomes_a_finding_and_the_scan_continues(tmp_path, monkeypatch):
    from preflight import engine
    from preflight.documents import Kind

    def explode(doc, ctx):
        raise KeyError("boom")
        yield  # pragma: no cover

    load_rule_packs()
    monkeypatch.setitem(REGISTRY, "ZZ999", engine.Rule("ZZ999", "explodes", ERROR, frozenset([Kind.CONDA]),
                                                       "test", explode, docs=""))
    (tmp_path / "a.yml").write_text("dependencies:\n  - pip:\n      - numpy\n")
    result = scan([str(tmp_path)], Options())
    rules = sorted(f.rule for f in result.findings)
    assert rules == ["ENV005", "PF003"]
    pf003 = next(f for f in result.findings if f.rule == "PF003")
    assert "KeyError" in pf003.message and "ZZ999" in pf003.message


def test_issue_with_explicit_position_keeps_it():
    load_rule_packs()
    from preflight.documents import load_document
    doc = load_document("score.py", b"def init():\n    pass\n")
    f = to_finding(REGISTRY["ENV005"], doc, Issue("/x", "m", line=2, column=5))
    assert (f.line, f.column) == (2, 5)


def test_positions_are_computed_only_for_files_with_findings(tmp_path):
    (tmp_path / "clean.yml").write_text("dependencies:\n  - pip:\n      - numpy==1.0.0\n")
    (tmp_path / "dirty.yml").write_text("dependencies:\n  - pip:\n      - numpy\n")
    result = scan([str(tmp_path)], Options())
    computed = {d.path.rsplit("/", 1)[-1]: "positions" in d.__dict__ for d in result.documents}
    assert computed == {"clean.yml": False, "dirty.yml": True}
