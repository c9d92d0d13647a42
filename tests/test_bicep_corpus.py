"""The Bicep front end on the real-world corpus (read in place; skipped without ../shared):
parse rate, speed, and a differential test against the compiler's own output."""
from __future__ import annotations

import csv
import os
import time

from preflight.documents import load_document
from preflight.engine import Options, scan

KV = "KV"


def bicep_files(corpus, kinds=("bicep",)):
    rows = csv.DictReader(open(corpus / "MANIFEST.tsv"), delimiter="\t")
    return [corpus / r["corpus_path"] for r in rows if r["kind"] in kinds]


def test_parse_rate(corpus):
    files = bicep_files(corpus, ("bicep", "bicepparam"))
    broken = []
    for path in files:
        doc = load_document(str(path), path.read_bytes())
        assert doc is not None and doc.kind is not None
        if doc.error is not None:
            broken.append(f"{path.relative_to(corpus)}:{doc.error.line}:{doc.error.column}: {doc.error.message}")
    print(f"{len(files) - len(broken)} of {len(files)} Bicep files read; not parsed:\n" + "\n".join(broken))
    assert len(files) == 726
    # Two files in the corpus are broken on purpose (compiler test data); nothing else may fail.
    assert len(broken) <= 7, "\n".join(broken)


def test_every_bicep_file_is_scanned_in_a_few_seconds(corpus):
    files = bicep_files(corpus)
    started = time.perf_counter()
    result = scan([str(p) for p in files], Options())
    elapsed = time.perf_counter() - started
    internal = [f"{f.path}: {f.message}" for f in result.findings if f.rule == "PF003"]
    print(f"{len(files)} .bicep files scanned in {elapsed:.2f}s, {len(result.findings)} findings")
    assert result.files == len(files) == 725
    assert not internal, "\n".join(internal)
    assert elapsed < 30  # a few seconds here; generous for a slow CI machine


def compiled_pairs(corpus):
    """Folders holding main.bicep beside the azuredeploy.json compiled from it."""
    out = []
    for path in bicep_files(corpus):
        folder = path.parent
        if path.name == "main.bicep" and (folder / "azuredeploy.json").is_file():
            out.append(folder)
    return sorted(out)


def kv_rules(path, parameter_file):
    options = Options(select={KV}, parameter_files=(str(parameter_file),) if parameter_file else ())
    return sorted({f.rule for f in scan([str(path)], options).findings})


def test_differential_against_the_compiled_json(corpus):
    """Each side scanned on its own, with the folder's JSON parameter file on both; the Key
    Vault rule ids they report must agree."""
    pairs = compiled_pairs(corpus)
    assert len(pairs) == 386
    disagreements, with_findings, agreeing_with_findings = [], 0, 0
    for folder in pairs:
        parameter_file = folder / "azuredeploy.parameters.json"
        parameter_file = parameter_file if parameter_file.is_file() else None
        from_bicep = kv_rules(folder / "main.bicep", parameter_file)
        from_json = kv_rules(folder / "azuredeploy.json", parameter_file)
        if from_bicep or from_json:
            with_findings += 1
            agreeing_with_findings += from_bicep == from_json
        if from_bicep != from_json:
            disagreements.append(f"{os.path.relpath(folder, corpus)}: main.bicep {from_bicep}, "
                                 f"azuredeploy.json {from_json}")
    agreement = 1 - len(disagreements) / len(pairs)
    with_rate = agreeing_with_findings / max(with_findings, 1)
    print(f"{len(pairs)} folders; agreement {agreement:.4f}; {with_findings} with a Key Vault finding on either "
          f"side, agreement there {with_rate:.4f}\n" + "\n".join(disagreements))
    assert with_findings >= 15
    assert with_rate >= 0.95, "\n".join(disagreements)
    assert agreement >= 0.99, "\n".join(disagreements)
