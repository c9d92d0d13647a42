import os

import pytest

from preflight.discover import Candidate, Skipped, discover


def paths(items):
    return [i.path for i in items if isinstance(i, Candidate)]


def make(root, rel, text="{}"):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_skips_vcs_dependencies_and_virtualenvs(tmp_path):
    make(tmp_path, "infra/main.json")
    make(tmp_path, ".git/config.json")
    make(tmp_path, "node_modules/pkg/package.json")
    make(tmp_path, "__pycache__/x.py")
    make(tmp_path, "env/pyvenv.cfg")
    make(tmp_path, "env/lib/conda.yml")
    make(tmp_path, "notes.txt")
    assert paths(discover([str(tmp_path)])) == [str(tmp_path / "infra/main.json")]


def test_relative_paths_stay_relative(tmp_path, monkeypatch):
    make(tmp_path, "a/b.yml")
    monkeypatch.chdir(tmp_path)
    assert paths(discover(["."])) == ["a/b.yml"]
    assert paths(discover(["a"])) == ["a/b.yml"]


def test_configured_excludes(tmp_path, monkeypatch):
    make(tmp_path, "keep/t.json")
    make(tmp_path, "generated/t.json")
    make(tmp_path, "keep/skip.test.json")
    monkeypatch.chdir(tmp_path)
    assert paths(discover(["."], exclude=["generated", "*.test.json"])) == ["keep/t.json"]


def test_symlink_loop_is_not_followed(tmp_path):
    make(tmp_path, "a/t.json")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    assert paths(discover([str(tmp_path)])) == [str(tmp_path / "a/t.json")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_in_tree_is_never_opened(tmp_path):
    make(tmp_path, "t.json")
    os.mkfifo(tmp_path / "pipe.json")
    assert paths(discover([str(tmp_path)])) == [str(tmp_path / "t.json")]
    # named explicitly, it is reported rather than opened (opening would block forever)
    items = list(discover([str(tmp_path / "pipe.json")]))
    assert isinstance(items[0], Skipped) and "not a regular file" in items[0].reason


def test_explicit_file_is_always_considered(tmp_path):
    p = make(tmp_path, "node_modules/inside.json")
    other = make(tmp_path, "README")  # no suffix we read, but named: still a candidate
    assert paths(discover([str(p), str(other)])) == [str(p), str(other)]


def test_missing_path_is_reported(tmp_path):
    items = list(discover([str(tmp_path / "nope")]))
    assert isinstance(items[0], Skipped)


def test_each_file_once_in_command_line_order_and_explicit_wherever_named(tmp_path, monkeypatch):
    make(tmp_path, "a/x.json")
    make(tmp_path, "a/y.json")
    os.link(tmp_path / "a" / "y.json", tmp_path / "a" / "z.json")  # the same file under two names
    monkeypatch.chdir(tmp_path)
    items = list(discover(["a/y.json", "a", "./a/y.json", "a/x.json", "nope", "./nope"]))
    assert [(i.path, getattr(i, "explicit", None)) for i in items] == [
        ("a/y.json", True), ("a/x.json", True), ("nope", None)]
    # a folder first: its files appear where the walk meets them, the named one explicit
    items = list(discover(["a", "a/x.json"]))
    assert [(i.path, i.explicit) for i in items] == [("a/x.json", True), ("a/y.json", False)]


def test_folder_that_cannot_be_listed_or_entered_is_skipped_with_a_reason(tmp_path, monkeypatch):
    import errno

    make(tmp_path, "a/locked/t.json")
    make(tmp_path, "a/shut/t.json")
    make(tmp_path, "a/t.json")
    real_scandir, real_lstat = os.scandir, os.lstat

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)

    def lstat(path, *, dir_fd=None):  # a folder with read but no search permission
        if os.sep + "shut" + os.sep in os.fspath(path):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_lstat(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "lstat", lstat)
    items = list(discover([str(tmp_path / "a")]))
    assert [(type(i).__name__, os.path.relpath(i.path, tmp_path)) for i in items] == [
        ("Candidate", "a/t.json"), ("Skipped", "a/locked"), ("Skipped", "a/shut/t.json")]
    assert [i.reason for i in items[1:]] == ["cannot list folder: Permission denied",
                                             "cannot access: Permission denied"]


def test_candidates_are_small_and_travel_to_workers():
    """A scan holds one candidate per file and pickles each for a worker process."""
    import pickle

    item = Candidate("a/b.json", explicit=True)
    assert not hasattr(item, "__dict__")
    assert pickle.loads(pickle.dumps(item)) == item


def test_order_is_a_folders_files_by_name_then_its_folders_depth_first(tmp_path, monkeypatch):
    for rel in ("b.json", "A.yml", "a/z.json", "a/c/x.bicep", "a/b.py", "B/q.yaml", "venv-like/pyvenv.cfg/x.json"):
        make(tmp_path, rel)
    monkeypatch.chdir(tmp_path)
    assert paths(discover(["."])) == ["A.yml", "b.json", "B/q.yaml", "a/b.py", "a/z.json", "a/c/x.bicep"]
    # a virtualenv named on the command line is scanned: only those found inside a walk are skipped
    make(tmp_path, "env/pyvenv.cfg")
    make(tmp_path, "env/conda.yml")
    assert paths(discover(["env"])) == ["env/conda.yml"]
    assert "env/conda.yml" not in paths(discover(["."]))
