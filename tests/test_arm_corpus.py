"""Every ARM template of the real-world corpus: evaluated without an internal error, quickly,
and with the hand-labelled Key Vault verdicts (skipped when ../shared is absent)."""
from __future__ import annotations

import csv
import os
import time

from preflight.engine import Options, scan


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_every_corpus_template_is_evaluated_without_internal_error(corpus):
    templates = [str(corpus / row["corpus_path"]) for row in _rows(corpus / "MANIFEST.tsv") if row["kind"] == "arm"]
    assert len(templates) > 2000
    started = time.perf_counter()
    result = scan(templates, Options(select={"KV", "ARM", "PF"}))
    elapsed = time.perf_counter() - started
    internal = [f"{f.path}: {f.message}" for f in result.findings if f.rule == "PF003"]
    assert internal == []
    unreadable = [f"{f.path}: {f.message}" for f in result.findings if f.rule == "PF001"]
    assert unreadable == []  # ARM accepts every one of these templates
    assert result.files == len(templates)
    assert elapsed < 60, f"{len(templates)} templates took {elapsed:.1f}s"


def test_labelled_key_vault_verdicts(corpus):
    labels = _rows(corpus / "labels-keyvault.tsv")
    paths = sorted({os.path.dirname(str(corpus / row["path"])) for row in labels})
    result = scan(paths, Options(select={"KV001", "KV002"}))
    by_path: dict[str, list] = {}
    for f in result.findings:
        by_path.setdefault(os.path.normpath(f.path), []).append(f)
    wrong = []
    for row in labels:
        hits = by_path.get(os.path.normpath(str(corpus / row["path"])), [])
        errors = [f for f in hits if str(f.severity) == "error"]
        ok = {"yes": bool(errors), "no": not hits, "depends": not errors}[row["wipes"]]
        if not ok:
            wrong.append((row["wipes"], row["path"], [(f.rule, str(f.severity)) for f in hits]))
    assert wrong == []
