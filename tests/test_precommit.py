"""The real pre-commit, with this repository as the hook source, in a throwaway git repository.

pre-commit clones the hook repository at a commit and pip-installs it into its own virtualenv
(from PyPI), exactly as a user's `pre-commit run` would. The working tree is copied into a
temporary git repository first, so the test needs no commit of this checkout and no network
beyond PyPI.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, REPO

INTEGRATIONS = FIXTURES / "integrations"
_NOT_THE_PACKAGE = shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
                                          ".venv", "venv", "build", "dist", ".preflight_cache", "corpus", "crash-*")


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-c", "user.name=preflight-test", "-c", "user.email=test@example.invalid",
                           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                          cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def _kv001_registered() -> bool:
    from preflight.engine import REGISTRY, load_rule_packs

    load_rule_packs()
    return "KV001" in REGISTRY


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict]:
    """A git repository whose .pre-commit-config.yaml uses a committed copy of this one."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("precommit")
    hook_repo = base / "hook-repo"
    shutil.copytree(REPO, hook_repo, ignore=_NOT_THE_PACKAGE, symlinks=True)
    _git(hook_repo, "init", "-q")
    _git(hook_repo, "add", "-A")
    _git(hook_repo, "commit", "-q", "-m", "preflight")
    rev = _git(hook_repo, "rev-parse", "HEAD")

    project = base / "project"
    project.mkdir()
    _git(project, "init", "-q")
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(
        {"repos": [{"repo": str(hook_repo), "rev": rev, "hooks": [{"id": "preflight"}]}]}))
    env = dict(os.environ, PRE_COMMIT_HOME=str(base / "cache"), NO_COLOR="1", PRE_COMMIT_COLOR="never")
    env.pop("VIRTUAL_ENV", None)
    return project, env


def pre_commit(project: Path, env: dict, *files: str) -> subprocess.CompletedProcess:
    _git(project, "add", "-A")
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--files", *files], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def test_hook_definition_matches_the_cli():
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "preflight" and hook["entry"] == "preflight scan" and hook["language"] == "python"
    import re

    pattern = re.compile(hook["files"])
    for name in ("a.json", "b.jsonc", "c.yml", "d.yaml", "score.py", "infra/main.json", "main.bicep",
                 "main.bicepparam"):
        assert pattern.search(name), name
    for name in ("README.md", "a.json.bak", "setup.cfg", "main.bicep.txt"):
        assert not pattern.search(name), name
    assert hook.get("pass_filenames", True) is True
    # Every kind of file preflight reads, and nothing else.
    from preflight.documents import SUFFIXES

    assert all(pattern.search("x" + suffix) for suffix in SUFFIXES)


def test_pre_commit_fails_on_findings_and_passes_when_clean(project):
    root, env = project
    shutil.copy(INTEGRATIONS / "conda-unpinned.yml", root / "environment.yml")
    shutil.copy(INTEGRATIONS / "conda-pinned.yml", root / "pinned.yml")
    (root / "notes.md").write_text("not for preflight\n")

    failed = pre_commit(root, env, "environment.yml")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "ENV005" in failed.stdout and "environment.yml:9:9" in failed.stdout
    assert "Failed" in failed.stdout

    passed = pre_commit(root, env, "pinned.yml")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout

    skipped = pre_commit(root, env, "notes.md")  # not matched by the hook's `files`
    assert skipped.returncode == 0 and "no files to check" in skipped.stdout


@pytest.mark.skipif(not _kv001_registered(), reason="KV001 is not registered in this checkout")
def test_pre_commit_fails_on_a_wiped_key_vault(project):
    root, env = project
    infra = root / "infra"
    infra.mkdir(exist_ok=True)
    shutil.copy(INTEGRATIONS / "kv-wiped.json", infra / "kv.json")
    shutil.copy(INTEGRATIONS / "kv-rbac.json", infra / "kv-rbac.json")

    failed = pre_commit(root, env, "infra/kv.json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "KV001" in failed.stdout and "infra/kv.json" in failed.stdout

    passed = pre_commit(root, env, "infra/kv-rbac.json")
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_pre_commit_honours_the_nearest_config_and_inline_suppressions(project):
    root, env = project
    sub = root / "legacy"
    sub.mkdir(exist_ok=True)
    shutil.copy(INTEGRATIONS / "conda-unpinned.yml", sub / "environment.yml")
    (sub / ".preflight.toml").write_text('ignore = ["ENV005"]\n')
    proc = pre_commit(root, env, "legacy/environment.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    text = (INTEGRATIONS / "conda-unpinned.yml").read_text().replace(
        "scikit-learn>=1.3", "scikit-learn>=1.3  # preflight: ignore[ENV005]")
    (root / "suppressed.yml").write_text(text)
    proc = pre_commit(root, env, "suppressed.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
