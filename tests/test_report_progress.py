"""The progress bar: on a terminal's stderr for many files; never in pipes, CI logs or with --quiet."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from preflight.progress import MIN_FILES, Progress

ENV = "name: e\ndependencies:\n  - python=3.10.12\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _many(tmp_path, count=MIN_FILES + 5):
    for i in range(count):
        (tmp_path / f"env{i:03}.yml").write_text(ENV)


def _run_with_tty_stderr(args, cwd) -> tuple[int, str, str]:
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm", NO_COLOR="1", COLUMNS="100")
    proc = subprocess.Popen([sys.executable, "-m", "preflight", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal(tmp_path):
    _many(tmp_path)
    code, out, err = _run_with_tty_stderr(["scan", "."], tmp_path)
    assert code == 0 and out.startswith("No findings in 30 files")
    assert "Reading [" in err and "Checking [" in err and f"{MIN_FILES + 5}/{MIN_FILES + 5} files" in err
    assert err.endswith("\r\x1b[K")  # erased before the report


def test_no_progress_with_quiet_or_without_a_terminal(tmp_path):
    _many(tmp_path)
    code, out, err = _run_with_tty_stderr(["scan", "--quiet", "."], tmp_path)
    assert code == 0 and err == ""
    proc = subprocess.run([sys.executable, "-m", "preflight", "scan", "."], cwd=tmp_path, capture_output=True,
                          text=True)
    assert proc.returncode == 0 and proc.stderr == ""


def test_few_files_draw_nothing(tmp_path):
    _many(tmp_path, 3)
    code, _, err = _run_with_tty_stderr(["scan", "."], tmp_path)
    assert code == 0 and err == ""


def test_progress_unit():
    assert Progress.on(io.StringIO()) is None
    stream = _Terminal()
    progress = Progress.on(stream)
    assert progress is not None
    tick = progress.start("checking", 40)
    for _ in range(40):
        tick()
    assert stream.getvalue().removesuffix("\x1b[K").endswith("40/40 files")
    progress.close()
    assert stream.getvalue().endswith("\r\x1b[K") and progress.drawn is False
    quiet = _Terminal()
    small = Progress(quiet)
    small.start("checking", MIN_FILES - 1)()
    small.close()
    assert quiet.getvalue() == ""
