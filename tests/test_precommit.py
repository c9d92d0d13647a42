"""The real pre-commit, with this repository as the hook source, in a throwaway git repository.

pre-commit clones the hook repository at a commit and pip-installs it into its own virtualenv
(from PyPI), exactly as a user's `pre-commit run` would. The working tree is copied into a
temporary git repository first, so the test needs no commit of this checkout and no network
beyond PyPI.
"""
from __future__ import annotations

import json
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


@pytest.fixture(scope="module")
def hook_source(tmp_path_factory) -> tuple[Path, str, dict]:
    """A committed copy of this repository (and its revision), and the environment pre-commit
    runs in, with one hook cache for the module."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("precommit")
    hook_repo = base / "hook-repo"
    shutil.copytree(REPO, hook_repo, ignore=_NOT_THE_PACKAGE, symlinks=True)
    _git(hook_repo, "init", "-q")
    _git(hook_repo, "add", "-A")
    _git(hook_repo, "commit", "-q", "-m", "preflight")
    rev = _git(hook_repo, "rev-parse", "HEAD")
    env = dict(os.environ, PRE_COMMIT_HOME=str(base / "cache"), NO_COLOR="1", PRE_COMMIT_COLOR="never")
    env.pop("VIRTUAL_ENV", None)
    return hook_repo, rev, env


def new_project(hook_source: tuple[Path, str, dict], root: Path, **hook: str) -> tuple[Path, dict]:
    """A git repository at `root` whose .pre-commit-config.yaml uses the hook source (with the
    hook's keys overridden by `hook`)."""
    hook_repo, rev, env = hook_source
    root.mkdir()
    _git(root, "init", "-q")
    (root / ".pre-commit-config.yaml").write_text(yaml.safe_dump(
        {"repos": [{"repo": str(hook_repo), "rev": rev, "hooks": [{"id": "preflight", **hook}]}]}))
    return root, env


@pytest.fixture(scope="module")
def project(hook_source, tmp_path_factory) -> tuple[Path, dict]:
    return new_project(hook_source, tmp_path_factory.mktemp("projects") / "project")


def pre_commit(project: Path, env: dict, *files: str) -> subprocess.CompletedProcess:
    _git(project, "add", "-A")
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--files", *files], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def pre_commit_staged(project: Path, env: dict) -> subprocess.CompletedProcess:
    """`pre-commit run` on the staged files, as `git commit` runs it."""
    _git(project, "add", "-A")
    return subprocess.run([sys.executable, "-m", "pre_commit", "run"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def test_hook_definition_matches_the_cli():
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    # The staged files follow `--`: a file name is never taken for an option.
    assert hook["id"] == "preflight" and hook["entry"] == "preflight scan --" and hook["language"] == "python"
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

    # By default only errors fail: the unpinned packages are warnings.
    assert pre_commit(root, env, "environment.yml").returncode == 0
    (root / ".preflight.toml").write_text('fail-on = "warning"\n')  # the hook follows the configuration
    try:
        failed = pre_commit(root, env, "environment.yml")
    finally:
        (root / ".preflight.toml").unlink()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "ENV005" in failed.stdout and "environment.yml:9:9" in failed.stdout
    assert "Failed" in failed.stdout

    passed = pre_commit(root, env, "pinned.yml")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout

    skipped = pre_commit(root, env, "notes.md")  # not matched by the hook's `files`
    assert skipped.returncode == 0 and "no files to check" in skipped.stdout


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


V1_CONDA = "name: scoring\ndependencies:\n  - python=3.10.13\n  - pip=23.3.1\n  - pip:\n      - scikit-learn==1.3.2\n"


def test_a_staged_file_named_like_an_option_is_scanned_not_obeyed(hook_source, tmp_path):
    """`--select=NONE.yml` once turned every rule off; here it is a conda file without
    azureml-defaults, used by a v1 inference config (ENV001)."""
    root, env = new_project(hook_source, tmp_path / "project")
    (root / "--select=NONE.yml").write_text(V1_CONDA)
    (root / "inferenceconfig.json").write_text(json.dumps(
        {"entryScript": "score.py", "sourceDirectory": ".", "condaFile": "--select=NONE.yml", "runtime": "python"}))
    (root / "score.py").write_text("def init():\n    pass\n\n\ndef run(raw_data):\n    return raw_data\n")
    proc = pre_commit_staged(root, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "--select=NONE.yml:5:5: ENV001 [error]" in proc.stdout and "Failed" in proc.stdout


def test_a_staged_file_named_like_an_output_option_overwrites_nothing(hook_source, tmp_path):
    root, env = new_project(hook_source, tmp_path / "project")
    (root / "victim.json").write_text('{"keep": true}\n')
    _git(root, "add", "victim.json")
    _git(root, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "victim")
    (root / "--output=victim.json").write_text("{}\n")
    shutil.copy(INTEGRATIONS / "conda-unpinned.yml", root / "environment.yml")
    (root / ".preflight.toml").write_text('fail-on = "warning"\n')  # so the report is shown
    proc = pre_commit_staged(root, env)
    assert (root / "victim.json").read_text() == '{"keep": true}\n'
    assert (root / "--output=victim.json").read_text() == "{}\n"
    # The report went where it belongs, and the staged files were checked.
    assert proc.returncode == 1 and "environment.yml:9:9: ENV005" in proc.stdout, proc.stdout + proc.stderr
    assert "files were modified by this hook" not in proc.stdout


def test_options_go_in_an_overridden_entry_that_ends_with_the_separator(hook_source, tmp_path):
    """As the README says: `args` would follow `--`, so options are given in `entry`."""
    root, env = new_project(hook_source, tmp_path / "project", entry="preflight scan --ignore ENV005 --")
    shutil.copy(INTEGRATIONS / "conda-unpinned.yml", root / "environment.yml")
    proc = pre_commit_staged(root, env)
    assert proc.returncode == 0 and "Passed" in proc.stdout, proc.stdout + proc.stderr
