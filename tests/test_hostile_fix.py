"""Fix safety under hostile conditions: `preflight fix` and `scan --fix --pins` keep line endings
and permissions, never write through a symlink out of the scanned tree (even one swapped in
while fixing), and leave the original intact when a write is interrupted half-way."""
import os
import stat

import pytest

from conftest import run_cli
from preflight import fix as fixmod
from preflight.engine import Options

LOCK = "numpy==1.26.4\npandas==2.1.4\n"
CONDA = "# environment\ndependencies:\n  - python=3.10.13\n  - pip=23.3.1\n  - pip:\n      - numpy\n      - pandas\n"
FIXED = CONDA.replace("- numpy", "- numpy==1.26.4").replace("- pandas", "- pandas==2.1.4")


def project(root, newline="\n"):
    root.mkdir(exist_ok=True)
    (root / "conda.yml").write_bytes(CONDA.replace("\n", newline).encode())
    (root / "lock.txt").write_text(LOCK)
    return root / "conda.yml"


def scan_fix(root, *paths):
    return run_cli("scan", "--select", "ENV", "--fix", "--pins", "lock.txt", *(paths or (".",)), cwd=root)


@pytest.mark.parametrize("command", ["fix", "scan --fix"])
def test_crlf_and_permissions_are_kept(tmp_path, command):
    conda = project(tmp_path, "\r\n")
    os.chmod(conda, 0o754)
    if command == "fix":
        proc = run_cli("fix", ".", "--pins", "lock.txt", cwd=tmp_path)
    else:
        proc = scan_fix(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert conda.read_bytes() == FIXED.replace("\n", "\r\n").encode()
    assert stat.S_IMODE(conda.stat().st_mode) == 0o754


def test_scan_fix_never_writes_through_a_symlink_out_of_the_tree(tmp_path):
    outside = project(tmp_path / "outside")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "lock.txt").write_text(LOCK)
    (repo / "env.yml").symlink_to(outside)
    (repo / "linked-dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    proc = scan_fix(repo)
    assert "outside the scanned folders" in proc.stderr + proc.stdout
    assert outside.read_text() == CONDA
    assert proc.returncode == 1  # what was not fixed is still reported


def test_a_symlink_swapped_in_while_fixing_is_not_followed(tmp_path, monkeypatch):
    conda = project(tmp_path / "repo")
    outside = project(tmp_path / "outside")
    original_apply = fixmod.apply_changes

    def apply_then_swap(plan):
        original_apply(plan)
        conda.unlink()
        conda.symlink_to(outside)  # the file becomes a link to outside after it was planned

    monkeypatch.setattr(fixmod, "apply_changes", apply_then_swap)
    result = fixmod.run([str(tmp_path / "repo")], Options(), fixmod.load_pins(str(tmp_path / "repo" / "lock.txt")))
    assert outside.read_text() == CONDA
    [plan] = result.plans
    assert not plan.written and any("outside the scanned folders" in n.message for n in plan.notes)


def test_a_hard_link_to_outside_the_tree_is_replaced_not_written_through(tmp_path):
    outside = project(tmp_path / "outside")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "lock.txt").write_text(LOCK)
    os.link(outside, repo / "conda.yml")
    assert scan_fix(repo).returncode == 0
    assert (repo / "conda.yml").read_text() == FIXED
    assert outside.read_text() == CONDA


class HalfWritten(Exception):
    pass


def writes_half_then(error, monkeypatch):
    """Make the next file written by os.fdopen stop half-way with `error`."""
    real_fdopen = os.fdopen

    class Half:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise error

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(fixmod.os, "fdopen", lambda fd, mode="r", *a, **k: Half(real_fdopen(fd, mode, *a, **k)))


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt(), HalfWritten()])
def test_an_interrupted_write_leaves_the_original_intact(tmp_path, monkeypatch, error):
    conda = project(tmp_path)
    os.chmod(conda, 0o640)
    before = conda.read_bytes()
    pins = fixmod.load_pins(str(tmp_path / "lock.txt"))
    writes_half_then(error, monkeypatch)
    if isinstance(error, OSError):
        [plan] = fixmod.run([str(tmp_path)], Options(), pins).plans
        assert not plan.written and any("No space left" in n.message for n in plan.notes)
    else:  # Ctrl-C or an unexpected failure: it propagates, after the clean-up
        with pytest.raises(type(error)):
            fixmod.run([str(tmp_path)], Options(), pins)
    assert conda.read_bytes() == before and stat.S_IMODE(conda.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["conda.yml", "lock.txt"]  # no temporary file left behind


def test_the_file_is_replaced_in_one_step(tmp_path, monkeypatch):
    """Whoever reads the file while it is fixed sees the old content or the new, never a mix:
    the new content is complete and on disk before the rename."""
    conda = project(tmp_path)
    seen = []
    real_replace = os.replace

    def observe(src, dst):
        seen.append((open(src).read(), open(dst).read()))
        real_replace(src, dst)

    monkeypatch.setattr(fixmod.os, "replace", observe)
    fixmod.run([str(tmp_path)], Options(), fixmod.load_pins(str(tmp_path / "lock.txt")))
    assert seen == [(FIXED, CONDA)] and conda.read_text() == FIXED
