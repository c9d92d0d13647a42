"""Shared test helpers: the CLI through a real subprocess, and the corpus beside the repo."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SHARED = Path(os.environ.get("PREFLIGHT_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"
PINNED_TODAY = "2026-12-01"  # 88 days before the Key Vault API retirement (KV019)


def run_cli(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m preflight ARGS` the way a user would, and return the finished process."""
    full_env = dict(os.environ, NO_COLOR="1")
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "preflight", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def scan_json(*args: str, cwd=None, env=None) -> tuple[dict, subprocess.CompletedProcess]:
    proc = run_cli("scan", "--format", "json", *args, cwd=cwd, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout), proc


@pytest.fixture(autouse=True)
def _no_result_cache(monkeypatch):
    """Tests check files as they are: the result cache is tested on its own (test_cache.py),
    and no test writes into the home folder's cache."""
    monkeypatch.setenv("PREFLIGHT_NO_CACHE", "1")


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch):
    """Findings that depend on the date (KV019: warning before 2027-02-27, error from then on)
    are the same whenever the tests run; tests of the date itself set or clear it."""
    monkeypatch.setenv("PREFLIGHT_TODAY", PINNED_TODAY)


@pytest.fixture
def corpus() -> Path:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip("../shared/corpus is not present")
    return CORPUS
