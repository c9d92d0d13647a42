"""The hashes preflight computes: the same bytes as hashlib's, without loading OpenSSL."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES
from preflight.digests import blake2b_128, sha256_hex


@pytest.mark.parametrize("data", [b"", b"abc", bytes(range(256)) * 1000])
def test_the_digests_are_hashlib_s(data):
    assert blake2b_128(data) == hashlib.blake2b(data, digest_size=16).hexdigest()
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_a_scan_with_fingerprints_and_a_result_cache_never_loads_openssl(tmp_path):
    # Every finding is fingerprinted and every file digested for the cache; neither needs
    # OpenSSL, whose library alone is 3.4 MiB resident in every process.
    code = (
        "import json, sys\n"
        "from preflight.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(json.dumps(sorted(m for m in sys.modules if 'hashlib' in m)))\n"
    )
    out = tmp_path / "report.sarif"
    proc = subprocess.run(
        [sys.executable, "-c", code, "scan", "--format", "sarif", "--output", str(out),
         "--cache-dir", str(tmp_path / "cache"), str(FIXTURES / "demo")],
        capture_output=True, text=True, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PREFLIGHT_NO_CACHE"})
    assert proc.stderr.strip().endswith("[]"), proc.stderr
    report = out.read_text(encoding="utf-8")
    assert '"partialFingerprints"' in report  # the findings were fingerprinted
    assert list((tmp_path / "cache" / "preflight-results").iterdir())  # and the files digested for the cache
