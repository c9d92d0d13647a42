import os

from preflight import contract
from preflight.contract import REGISTRY, Options
from preflight.rulepacks import load_rule_packs
from preflight.engine import ScanContext, scan, to_finding
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
    from preflight.documents import Kind

    def explode(doc, ctx):
        raise KeyError("boom")
        yield  # pragma: no cover

    load_rule_packs()
    monkeypatch.setitem(REGISTRY, "ZZ999", contract.Rule("ZZ999", "explodes", ERROR, frozenset([Kind.CONDA]),
                                                       "test", explode, docs=""))
    (tmp_path / "a.yml").write_text("dependencies:\n  - pip=23.3.1\n  - pip:\n      - numpy\n")
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


def test_positions_are_computed_only_for_files_with_findings():
    from preflight.documents import load_document
    from preflight.engine import DocumentStore, check_document

    load_rule_packs()
    options = Options()
    ctx = ScanContext(options, DocumentStore(options))
    rules = [REGISTRY["ENV005"]]
    clean = load_document("clean.yml", b"dependencies:\n  - pip:\n      - numpy==1.0.0\n")
    dirty = load_document("dirty.yml", b"dependencies:\n  - pip:\n      - numpy\n")
    assert check_document(clean, ctx, rules) == []
    assert [f.line for f in check_document(dirty, ctx, rules)] == [3]
    assert "positions" not in clean.__dict__ and "positions" in dirty.__dict__


def test_linked_documents_are_kept_and_others_loaded_on_demand(tmp_path):
    from preflight.documents import Kind

    (tmp_path / "ic.json").write_text('{"entryScript": "score.py", "condaFile": "env.yml"}')
    (tmp_path / "env.yml").write_text("dependencies:\n  - pip:\n      - numpy==1.0.0\n")
    seen = {}

    def look(doc, ctx):
        seen["configs"] = [d.path for d in ctx.documents_of(Kind.INFERENCE_V1)]
        linked = ctx.document_at(str(tmp_path / "env.yml"))
        seen["linked_kind"] = linked.kind if linked else None
        return iter(())

    load_rule_packs()
    contract.REGISTRY["ZZ998"] = contract.Rule("ZZ998", "look", contract.INFO, frozenset([Kind.CONDA]), "t", look)
    try:
        scan([str(tmp_path)], Options())
    finally:
        del contract.REGISTRY["ZZ998"]
    assert seen == {"configs": [str(tmp_path / "ic.json")], "linked_kind": Kind.CONDA}


def test_parallel_scan_gives_the_same_report_as_sequential(monkeypatch):
    """Worker processes check the deferred files; the findings (suppressions and fingerprints
    included) must be exactly those of an in-process scan."""
    import preflight.engine as engine
    from conftest import FIXTURES

    monkeypatch.setattr(engine, "POOL_MIN_FILES", 2)
    sequential = scan([str(FIXTURES)], Options(jobs=1))
    parallel = scan([str(FIXTURES)], Options(jobs=2))
    assert engine._workers(Options(jobs=2), 10) == 2  # the pool really was used
    assert sequential.files == parallel.files > 20
    assert [f.to_json() for f in parallel.findings] == [f.to_json() for f in sequential.findings]
    assert sorted(parallel.checked) == sorted(sequential.checked)


def test_findings_from_workers_hold_one_copy_of_their_paths_and_rule_texts(monkeypatch):
    """Each worker result arrives with its own copies of strings; the findings of a large scan
    are kept until it ends, so their paths, rule ids, names, fix hints and the strings of their
    evidence are made one each."""
    import preflight.engine as engine
    from conftest import FIXTURES

    monkeypatch.setattr(engine, "POOL_MIN_FILES", 2)
    monkeypatch.setattr(engine, "_POOL_BATCH", 1)  # every file's findings in a pickle of its own
    result = scan([str(FIXTURES)], Options(jobs=2))
    checked = {id(path) for path in result.checked}
    by_rule: dict[str, list] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule, []).append(f)
    repeated = [fs for fs in by_rule.values() if len({f.path for f in fs}) > 1]
    assert repeated  # the same rule found in several files, checked by different batches
    for found in repeated:
        assert len({id(f.rule) for f in found}) == len({id(f.name) for f in found}) == 1
        assert len({id(f.fix) for f in found if f.fix}) == len({f.fix for f in found if f.fix})
    own = [f for f in result.findings if not f.data.get("callers")]  # not placed in a module file
    assert own and all(id(f.path) in checked for f in own)
    evidence: dict[str, set[int]] = {}  # the strings of the findings' data (names, versions, dates)
    for f in result.findings:
        for value in f.data.values():
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    evidence.setdefault(text, set()).add(id(text))
    assert len(evidence) > 10 and all(len(ids) == 1 for ids in evidence.values())


def test_parallel_scan_with_few_batches_in_flight_keeps_the_order(monkeypatch):
    """Batches are submitted a few per worker at a time (the parent holds no backlog of
    results): with one file per batch there are many more batches than that window."""
    import preflight.engine as engine
    from conftest import FIXTURES

    monkeypatch.setattr(engine, "POOL_MIN_FILES", 2)
    monkeypatch.setattr(engine, "_POOL_BATCH", 1)
    sequential = scan([str(FIXTURES)], Options(jobs=1))
    parallel = scan([str(FIXTURES)], Options(jobs=2))
    assert parallel.files > 3 * 2 * 2
    assert [f.to_json() for f in parallel.findings] == [f.to_json() for f in sequential.findings]
    assert parallel.checked == sequential.checked


def test_models_of_files_and_folders_are_bounded_and_rebuilt_alike(monkeypatch, tmp_path):
    """Per-folder and per-file models (a folder's parameter files, a linked template) are kept
    in a small LRU; one dropped and built again gives the same findings."""
    import json
    import shutil

    import preflight.engine as engine
    from conftest import FIXTURES

    template = FIXTURES / "arm" / "guarded-condition" / "azuredeploy.json"
    for name, option in (("a", "new"), ("b", "existing"), ("c", "new")):
        shutil.copy(template, tmp_path / f"{name}.json")
        (tmp_path / f"{name}.parameters.json").write_text(
            json.dumps({"parameters": {"keyVaultOption": {"value": option}}}))
    built: list[str] = []
    real_model = ScanContext.model

    def counting(self, key, build, local=False):
        if key not in (self.local if local else self.cache):
            built.append(key)
        value = real_model(self, key, build, local)
        assert len(self.local) <= engine._LOCAL_MODELS
        return value

    monkeypatch.setattr(ScanContext, "model", counting)
    unbounded = scan([str(tmp_path), str(FIXTURES)], Options(jobs=1))
    builds_unbounded = len(built)
    built.clear()
    monkeypatch.setattr(engine, "_LOCAL_MODELS", 1)
    bounded = scan([str(tmp_path), str(FIXTURES)], Options(jobs=1))
    assert len(built) > builds_unbounded  # models really were dropped and built again
    assert [f.to_json() for f in bounded.findings] == [f.to_json() for f in unbounded.findings]
    assert any(f.path.startswith(str(tmp_path)) for f in bounded.findings)


UNPINNED_NUMPY = "dependencies:\n  - pip=23.3.1\n  - pip:\n      - numpy\n"


def _scan_with_a_worker_killer(monkeypatch, capsys, tmp_path, victim: str, deaths: int):
    """`preflight scan --jobs 2` of 40 conda files in batches of 4, with a rule that kills the
    worker process checking `victim` (SIGKILL, as the out-of-memory killer does) its first
    `deaths` times (-1: every time). Returns (exit code, report, deaths that happened)."""
    import json
    import signal

    from preflight import engine
    from preflight.cli import main
    from preflight.documents import Kind

    files = tmp_path / "repo"
    files.mkdir()
    for i in range(40):
        (files / f"env{i:02}.yml").write_text(UNPINNED_NUMPY)
    killed = tmp_path / "killed"  # one line per death: the workers share nothing else with the test
    scanning_process = os.getpid()

    def kill_the_worker(doc, ctx):
        if doc.path.endswith(victim) and (deaths < 0 or len(_lines(killed)) < deaths):
            if os.getpid() == scanning_process:  # never kill the test itself: fail instead
                raise AssertionError("the file that kills its worker was checked in the scanning process")
            with open(killed, "a") as f:
                f.write("died\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return iter(())

    load_rule_packs()
    monkeypatch.setitem(REGISTRY, "ZZ997", contract.Rule("ZZ997", "kills-its-worker", ERROR,
                                                       frozenset([Kind.CONDA]), "test", kill_the_worker))
    monkeypatch.setattr(engine, "POOL_MIN_FILES", 2)
    monkeypatch.setattr(engine, "_POOL_BATCH", 4)
    capsys.readouterr()
    code = main(["scan", "--quiet", "--fail-on", "warning", "--jobs", "2", "--format", "json", str(files)])
    out, err = capsys.readouterr()
    assert "internal error" not in err, err
    return code, json.loads(out), len(_lines(killed))


def _lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_file_that_kills_its_worker_is_pf003_and_the_scan_completes(monkeypatch, capsys, tmp_path):
    """A worker killed by the system used to end the scan ("BrokenProcessPool", exit 2, no
    report). Its batch runs again in a fresh worker, then file by file: the file that
    kills its worker every time is PF003, every other file is checked."""
    code, report, deaths = _scan_with_a_worker_killer(monkeypatch, capsys, tmp_path, "env17.yml", -1)
    assert code == 1
    assert deaths == 3  # in its batch, in its batch again, then alone
    by_rule: dict[str, list[str]] = {}
    for f in report["findings"]:
        by_rule.setdefault(f["rule"], []).append(os.path.basename(f["path"]))
    assert by_rule.pop("PF003") == ["env17.yml"]
    assert sorted(by_rule.pop("ENV005")) == [f"env{i:02}.yml" for i in range(40) if i != 17]
    assert by_rule == {}
    [died] = [f for f in report["findings"] if f["rule"] == "PF003"]
    assert "worker process checking this file died" in died["message"]
    assert report["summary"]["files"] == 39


def test_a_worker_killed_once_costs_a_rerun_of_its_batch(monkeypatch, capsys, tmp_path):
    """A worker killed once (memory pressure that passes): its batch runs again in a fresh
    worker and every file is checked, the victim included."""
    code, report, deaths = _scan_with_a_worker_killer(monkeypatch, capsys, tmp_path, "env05.yml", 1)
    assert code == 1 and deaths == 1
    assert sorted(os.path.basename(f["path"]) for f in report["findings"]) == [f"env{i:02}.yml" for i in range(40)]
    assert {f["rule"] for f in report["findings"]} == {"ENV005"}
    assert report["summary"]["files"] == 40


def test_a_files_bytes_are_let_go_before_its_rules_run(monkeypatch, tmp_path):
    """The document holds the file's text; the bytes it was read as are not kept while the
    rules run (they were, at a worker's peak: as much again as a 640 KB template)."""
    import sys
    import tracemalloc

    from preflight.documents import Kind

    big = tmp_path / "environment.yml"
    big.write_text(UNPINNED_NUMPY + "# " + "x" * 400_000 + "\n")
    buffer_size = big.stat().st_size + sys.getsizeof(b"")  # a bytes object of the whole file
    read_buffers: list[int] = []

    def count_read_buffers(doc, ctx):
        snapshot = tracemalloc.take_snapshot()
        read_buffers.append(sum(1 for t in snapshot.traces if t.size == buffer_size))
        return iter(())

    load_rule_packs()
    monkeypatch.setitem(REGISTRY, "ZZ996", contract.Rule("ZZ996", "counts-read-buffers", ERROR,
                                                       frozenset([Kind.CONDA]), "test", count_read_buffers))
    tracemalloc.start(1)
    try:
        result = scan([str(big)], Options(jobs=1))
    finally:
        tracemalloc.stop()
    assert [f.rule for f in result.findings] == ["ENV005"]  # the file was really checked
    assert read_buffers == [0]


def test_the_largest_files_are_checked_first_and_reported_in_order(monkeypatch, tmp_path):
    """A worker's peak is its memory at the time plus what its largest file takes: the largest
    files go to the workers first (more of them than batches in flight, here), and their
    findings still come in the order of the files."""
    from preflight import engine
    from preflight.documents import Kind

    for i in range(30):
        (tmp_path / f"env{i:02}.yml").write_text(UNPINNED_NUMPY + "#" * (1000 * (i % 10)) + "\n")
    order = tmp_path / "order"  # the files in the order they were checked, whatever the process

    def note_the_order(doc, ctx):
        with open(order, "a") as f:
            f.write(f"{os.getpid()} {os.path.basename(doc.path)}\n")
        return iter(())

    load_rule_packs()
    monkeypatch.setitem(REGISTRY, "ZZ995", contract.Rule("ZZ995", "notes-the-order", ERROR,
                                                       frozenset([Kind.CONDA]), "test", note_the_order))
    sequential = scan([str(tmp_path)], Options(jobs=1))
    order.unlink()
    monkeypatch.setattr(engine, "POOL_MIN_FILES", 2)
    monkeypatch.setattr(engine, "_POOL_BATCH", 2)
    monkeypatch.setattr(engine, "_LARGE_FILE", 7_000)  # env07, 08, 09, 17, ..., 29
    monkeypatch.setattr(engine, "_LARGE_FIRST", 7)  # more than the 6 batches in flight
    parallel = scan([str(tmp_path)], Options(jobs=2))
    by_worker: dict[str, list[str]] = {}
    for line in _lines(order):
        pid, name = line.split(" ", 1)
        by_worker.setdefault(pid, []).append(name)
    assert str(os.getpid()) not in by_worker and len(by_worker) == 2
    # Tasks are handed out in order, the largest files' first: each worker checks every large
    # file it was given before any other (how the workers interleave depends on the machine).
    first = {"env09.yml", "env19.yml", "env29.yml", "env08.yml", "env18.yml", "env28.yml", "env07.yml"}
    for names in by_worker.values():
        ranks = [name in first for name in names]
        assert ranks == sorted(ranks, reverse=True), names
    assert sorted(n for names in by_worker.values() for n in names) == sorted(f"env{i:02}.yml" for i in range(30))
    assert [f.to_json() for f in parallel.findings] == [f.to_json() for f in sequential.findings]
    assert len(parallel.findings) == 30 and parallel.checked == sequential.checked
