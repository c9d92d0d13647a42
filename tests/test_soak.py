"""Corpus soak: every real-world file in ../shared/corpus goes through the whole engine
(every rule family), and nothing fails inside preflight."""
from preflight.engine import Options, scan


def test_whole_corpus_scans_without_internal_error(corpus):
    result = scan([str(corpus)], Options())
    internal = [f"{f.path}: {f.message}" for f in result.findings if f.rule == "PF003"]
    assert result.files > 4000
    assert internal == [], "\n".join(internal[:20])
