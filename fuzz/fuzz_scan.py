"""Coverage-guided fuzz target (atheris): arbitrary bytes through classification, loading and
every rule, as a file of each format. Anything but a clean return is a bug.

    pip install atheris
    python fuzz/fuzz_scan.py -max_total_time=300 fuzz/corpus/
"""
import sys

import atheris

with atheris.instrument_imports():
    from preflight.documents import load_document
    from preflight.engine import REGISTRY, Context, DocumentStore, Options, check_document, load_rule_packs

load_rule_packs()
OPTIONS = Options()
RULES = [r for r in REGISTRY.values() if r.check is not None]
NAMES = ("azuredeploy.json", "conda.yml", "deploy.yaml", "score.py")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    name = NAMES[data[0] % len(NAMES)]
    doc = load_document(name, data[1:], explicit=True)
    if doc is None:
        return
    store = DocumentStore(OPTIONS)
    store.current = doc
    ctx = Context(OPTIONS, store)
    for finding in check_document(doc, ctx, [r for r in RULES if doc.kind in r.kinds]):
        if finding.rule == "PF003":  # an exception inside a rule: make the fuzzer stop here
            raise RuntimeError(finding.message)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
