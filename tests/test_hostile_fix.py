"""Fix safety under hostile conditions: `preflight fix` and `scan --fix --pins` keep line endings
and permissions, never write through a symlink out of the scanned tree (even one swapped in
while fixing), and leave the original intact when a write is interrupted half-way."""
import os
import signal
import stat
import subprocess
import sys
import time

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
    return run_cli("scan", "--select", "ENV", "--fail-on", "warning", "--fix", "--pins", "lock.txt",
                   *(paths or (".",)), cwd=root)


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


# ----------------------------------------------------------------------------- files fix may not or must not rewrite

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def test_a_read_only_file_is_refused_untouched_and_the_rest_fixed(tmp_path):
    conda = project(tmp_path)
    other = tmp_path / "other.yml"
    other.write_text(CONDA)
    os.chmod(conda, 0o444)  # root too: os.access says root may write it, the mode says no one should
    before = conda.stat()
    proc = run_cli("fix", ".", "--pins", "lock.txt", cwd=tmp_path)
    assert proc.returncode == 1
    lines = [line for line in proc.stdout.splitlines() if line.startswith("conda.yml")]
    assert lines == ["conda.yml:1:1: not fixed: read-only (mode 0444), not written "
                     "(pinned numpy==1.26.4, pinned pandas==2.1.4)"]
    assert "Fixed 2 problems in 1 file; 2 could not be fixed." in proc.stdout
    after = conda.stat()
    assert conda.read_text() == CONDA and (after.st_ino, after.st_mtime_ns, after.st_mode) == (
        before.st_ino, before.st_mtime_ns, before.st_mode)
    assert other.read_text() == FIXED


def test_a_file_this_user_may_not_write_is_refused(tmp_path, monkeypatch):
    """Another user's 0644 file in a folder this user may write: the mode has a write bit, but
    not for this user (os.access says so; faked here, as a test may run as root)."""
    conda = project(tmp_path)
    real_access = os.access
    monkeypatch.setattr(fixmod.os, "access", lambda path, mode, **kw: (
        False if os.path.basename(path) == "conda.yml" and mode == os.W_OK else real_access(path, mode, **kw)))
    [plan] = fixmod.run([str(tmp_path)], Options(), fixmod.load_pins(str(tmp_path / "lock.txt"))).plans
    assert not plan.written and [n.message for n in plan.notes] == [
        "not writable by this user, not written (pinned numpy==1.26.4, pinned pandas==2.1.4)"]
    assert conda.read_text() == CONDA


@pytest.mark.skipif(not AS_ROOT, reason="giving a file another owner and group needs root")
def test_owner_group_and_mode_are_kept(tmp_path):
    conda = project(tmp_path)
    os.chown(conda, 4321, 4322)
    os.chmod(conda, 0o2660)
    assert run_cli("fix", ".", "--pins", "lock.txt", cwd=tmp_path).returncode == 0
    after = conda.stat()
    assert conda.read_text() == FIXED
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (4321, 4322, 0o2660)


@pytest.mark.skipif(not AS_ROOT, reason="giving a file another owner and group needs root")
def test_a_file_whose_group_cannot_be_kept_is_refused(tmp_path, monkeypatch):
    """As a user outside the file's group: the rewritten file would belong to another group."""
    conda = project(tmp_path)
    os.chown(conda, os.geteuid(), 4322)

    def not_permitted(fd, uid, gid):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(fixmod.os, "fchown", not_permitted)
    [plan] = fixmod.run([str(tmp_path)], Options(), fixmod.load_pins(str(tmp_path / "lock.txt"))).plans
    assert not plan.written
    assert [n.message for n in plan.notes] == [
        f"owned by {os.geteuid()}:4322, which a rewritten file could not keep (it would be {os.geteuid()}:"
        f"{os.getegid()}), not written (pinned numpy==1.26.4, pinned pandas==2.1.4)"]
    assert conda.read_text() == CONDA and conda.stat().st_gid == 4322
    assert sorted(os.listdir(tmp_path)) == ["conda.yml", "lock.txt"]


@pytest.mark.parametrize("change", ["append", "same bytes, another file"])
def test_a_change_made_while_fixing_is_not_lost(tmp_path, monkeypatch, change):
    """Another process writes the file after fix read it and before the rename (here: while the
    new content is flushed): the file is left with that process's content."""
    conda = project(tmp_path)
    real_fsync = os.fsync

    def meanwhile(fd):
        if change == "append":
            with open(conda, "a") as f:
                f.write("      - scipy\n")
        else:  # an editor's save: a new file renamed over it, with the very same bytes
            (tmp_path / "saved").write_text(CONDA)
            os.replace(tmp_path / "saved", conda)
        real_fsync(fd)

    monkeypatch.setattr(fixmod.os, "fsync", meanwhile)
    [plan] = fixmod.run([str(tmp_path)], Options(), fixmod.load_pins(str(tmp_path / "lock.txt"))).plans
    assert not plan.written
    assert [n.message for n in plan.notes] == [
        "changed while fixing, not written (pinned numpy==1.26.4, pinned pandas==2.1.4)"]
    assert conda.read_text() == (CONDA + "      - scipy\n" if change == "append" else CONDA)
    assert sorted(os.listdir(tmp_path)) == ["conda.yml", "lock.txt"]  # the temporary file is gone


# ----------------------------------------------------------------------------- temporary files

@pytest.mark.parametrize("target", ["an existing file", "nothing (dangling)"])
def test_a_temporary_file_is_never_created_through_a_symlink(tmp_path, monkeypatch, target):
    """A link planted under the temporary file's name is neither followed nor removed: another
    name is drawn."""
    repo = tmp_path / "repo"
    conda = project(repo)
    victim = tmp_path / "victim"
    if target == "an existing file":
        victim.write_text("keep\n")
    planted = repo / f".conda.yml.{os.getpid()}.0000dead.preflight-tmp"
    planted.symlink_to(victim)
    tokens = iter(["0000dead", "0000beef"])
    monkeypatch.setattr(fixmod.secrets, "token_hex", lambda n: next(tokens))
    [plan] = fixmod.run([str(repo)], Options(), fixmod.load_pins(str(repo / "lock.txt"))).plans
    assert plan.written and conda.read_text() == FIXED
    assert planted.is_symlink() and os.readlink(planted) == str(victim)
    if target == "an existing file":
        assert victim.read_text() == "keep\n"
    else:
        assert not victim.exists()
    assert next(tokens, None) is None  # the second name was used


KILLED_FIX = """
import os, signal
os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)  # killed just before the rename
from preflight.cli import main
main(["fix", ".", "--pins", "lock.txt"])
"""


def test_a_temporary_file_left_by_a_killed_fix_is_removed_by_the_next(tmp_path):
    conda = project(tmp_path)
    killed = subprocess.run([sys.executable, "-c", KILLED_FIX], cwd=tmp_path, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [leftover] = [name for name in os.listdir(tmp_path) if name.endswith(".preflight-tmp")]
    assert conda.read_text() == CONDA and (tmp_path / leftover).read_text() == FIXED

    proc = run_cli("fix", ".", "--pins", "lock.txt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"removed {leftover}: a temporary file left by an interrupted fix" in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ["conda.yml", "lock.txt"] and conda.read_text() == FIXED


def _ended_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_only_stale_temporary_files_of_ours_are_removed(tmp_path):
    dead = _ended_pid()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = time.time_ns()
        minute_ago, two_hours_ago = started - 60 * 10**9, started - 7200 * 10**9
        outside = tmp_path / "outside"
        outside.write_text("keep\n")

        def make(name, mtime=minute_ago, content="x"):
            path = tmp_path / name
            path.write_text(content)
            os.utime(path, ns=(mtime, mtime))
            return path

        stale = [make(f".conda.yml.{dead}.0123abcd.preflight-tmp"),  # its process has ended
                 make(f".env.yml.{alive.pid}.0123abcd.preflight-tmp", two_hours_ago)]  # pid reused since
        kept = [make(".conda.yml.x1y2z3a4.preflight-tmp"),  # not our name: no pid
                make(f"conda.yml.{dead}.0123abcd.preflight-tmp"),  # not hidden
                make(f".conda.yml.{dead}.0123abcd.preflight-tmp.bak"),
                make(f".conda.yml.{dead}.0123ABCD.preflight-tmp"),
                make(f".conda.yml.{dead}.0123abc.preflight-tmp"),
                make(f".a.yml.{alive.pid}.0123abcd.preflight-tmp"),  # a write in progress
                make(f".b.yml.{dead}.0123abcd.preflight-tmp", started + 10**9)]  # written after this run began
        link = tmp_path / f".c.yml.{dead}.0123abcd.preflight-tmp"
        link.symlink_to(outside)
        folder = tmp_path / f".d.yml.{dead}.0123abcd.preflight-tmp"
        folder.mkdir()
        linked = make(f".e.yml.{dead}.0123abcd.preflight-tmp")
        os.link(linked, tmp_path / "second-name")
        kept += [link, folder, linked]
        if AS_ROOT:
            foreign = make(f".f.yml.{dead}.0123abcd.preflight-tmp")
            os.chown(foreign, 4321, 4321)
            kept.append(foreign)

        removed = fixmod.remove_stale_temp_files(str(tmp_path), started)
        assert sorted(removed) == sorted(str(p) for p in stale)
        assert not any(p.exists() for p in stale)
        assert all(os.path.lexists(p) for p in kept) and link.is_symlink() and outside.read_text() == "keep\n"
    finally:
        alive.kill()
        alive.wait()


def test_the_fix_summary_prints_repository_text_on_one_line(tmp_path):
    """A file name with a newline and a workflow command cannot forge a line of the summary."""
    name = "env\n::error title=forged::x\x1b[31m.yml"
    (tmp_path / name).write_text(CONDA)
    (tmp_path / "lock.txt").write_text(LOCK)
    proc = run_cli("fix", ".", "--pins", "lock.txt", cwd=tmp_path)
    assert "fixed" in proc.stdout and "\\n::error title=forged::x\\x1b[31m.yml" in proc.stdout
    assert not any(line.lstrip().startswith("::") for line in proc.stdout.splitlines())
    assert "\x1b" not in proc.stdout
