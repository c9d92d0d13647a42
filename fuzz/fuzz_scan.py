"""Coverage-guided fuzz target (atheris): arbitrary bytes through classification, loading and
every rule, as a file of each format. Anything but a clean return is a bug.

The first byte picks the file name (and so the format): byte % 5 indexes NAMES; the rest is the
file's content. `python fuzz/fuzz_scan.py --seeds DIR FILE...` writes FILEs as seeds in that form.

    pip install atheris
    python fuzz/fuzz_scan.py --seeds fuzz/corpus fixtures/demo/infra/*.json fixtures/demo/deploy/*.yml
    python fuzz/fuzz_scan.py -max_total_time=300 -rss_limit_mb=1024 fuzz/corpus/
"""
import sys

import atheris

with atheris.instrument_imports(include=["preflight"]):
    # imported here so that they are instrumented too, though the harness never names them
    import preflight.arm  # noqa: F401
    import preflight.bicep  # noqa: F401
    from preflight.documents import load_document
    from preflight.contract import REGISTRY, Options
    from preflight.engine import DocumentStore, ScanContext, check_document
    from preflight.rulepacks import load_rule_packs

    load_rule_packs()  # the rules, and what they import, are instrumented too
OPTIONS = Options()
RULES = [r for r in REGISTRY.values() if r.check is not None]
NAMES = ("azuredeploy.json", "conda.yml", "deploy.yaml", "score.py", "main.bicep")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    name = NAMES[data[0] % len(NAMES)]
    doc = load_document(name, data[1:], explicit=True)
    if doc is None:
        return
    store = DocumentStore(OPTIONS)
    store.current = doc
    ctx = ScanContext(OPTIONS, store)
    for finding in check_document(doc, ctx, [r for r in RULES if doc.kind in r.kinds]):
        if finding.rule == "PF003":  # an exception inside a rule: make the fuzzer stop here
            raise RuntimeError(finding.message)


def write_seeds(directory: str, files: list[str]) -> None:
    """Each file as a seed: the byte that selects a name with the same ending, then its content."""
    import os

    os.makedirs(directory, exist_ok=True)
    for i, path in enumerate(files):
        lower = path.lower()
        selector = next((n for n, name in enumerate(NAMES) if lower.endswith(os.path.splitext(name)[1])), None)
        if selector is None and lower.endswith(".yml"):
            selector = NAMES.index("conda.yml")
        if selector is None:
            continue
        with open(path, "rb") as src, open(os.path.join(directory, f"seed-{i:04d}"), "wb") as out:
            out.write(bytes([selector]) + src.read())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--seeds"]:
        write_seeds(sys.argv[2], sys.argv[3:])
        sys.exit(0)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
