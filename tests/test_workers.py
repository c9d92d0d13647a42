"""The forked worker processes of a large scan (preflight.workers)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from preflight.workers import ForkPool

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="workers are forked")


def _run_all(pool: ForkPool, tasks: dict[str, object]) -> dict[str, object]:
    """Every task to a worker as one is idle, until all ended: handle -> outcome."""
    waiting = list(tasks)
    ended: dict[str, object] = {}
    while len(ended) < len(tasks):
        while waiting and pool.idle():
            handle = waiting.pop(0)
            pool.start(handle, tasks[handle])
        for handle, outcome in pool.wait():
            ended[handle] = outcome
    return ended


def _task(task):
    kind, value = task
    if kind == "raise":
        raise ValueError(value)
    if kind == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "pid":
        return os.getpid()
    return [value] * 100_000  # a result larger than a pipe's buffer


def test_tasks_run_in_workers_and_their_results_come_back_whole():
    pool = ForkPool(2, _task)
    try:
        ended = _run_all(pool, {f"t{i}": ("big", i) for i in range(6)} | {"pid": ("pid", None)})
    finally:
        pool.close()
    assert {h: o.result() for h, o in ended.items() if h != "pid"} == {f"t{i}": [i] * 100_000 for i in range(6)}
    assert ended["pid"].result() != os.getpid()


def test_a_task_that_raises_is_failed_and_its_worker_goes_on():
    pool = ForkPool(1, _task)
    try:
        first = _run_all(pool, {"bad": ("raise", "broken input"), "pid": ("pid", None)})
        again = _run_all(pool, {"pid": ("pid", None)})
    finally:
        pool.close()
    assert first["bad"].failed == "ValueError: broken input" and not first["bad"].died
    assert first["pid"].result() == again["pid"].result()  # the same worker: it did not die


def test_a_worker_that_dies_loses_its_own_task_only_and_is_replaced():
    pool = ForkPool(2, _task)
    try:
        ended = _run_all(pool, {"victim": ("die", None), "a": ("big", 1), "b": ("big", 2), "c": ("big", 3)})
        after = _run_all(pool, {"x": ("pid", None), "y": ("pid", None)})
    finally:
        pool.close()
    assert ended["victim"].died and ended["victim"].payload is None
    assert [ended[h].result()[0] for h in "abc"] == [1, 2, 3]
    assert all(o.result() > 0 for o in after.values())  # a fresh worker took the dead one's place


def test_closing_the_pool_leaves_no_worker_behind():
    pool = ForkPool(2, _task)
    pids = [w.pid for w in pool._workers]
    pool.close()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped already


def test_a_parallel_scan_loads_neither_multiprocessing_nor_concurrent_futures(tmp_path):
    """Their imports cost the scanning process, and each worker forked after them, 1.5 MiB."""
    for i in range(6):
        (tmp_path / f"env{i}.yml").write_text("dependencies:\n  - pip=23.3.1\n  - pip:\n      - numpy\n")
    script = textwrap.dedent(f"""
        import os, sys
        import preflight.engine as engine, preflight.workers as workers
        forks = []
        real_fork = workers.ForkPool._fork
        def fork(self):
            worker = real_fork(self)
            forks.append(worker.pid)
            return worker
        workers.ForkPool._fork = fork
        engine.POOL_MIN_FILES = 2
        result = engine.scan([{str(tmp_path)!r}], engine.Options(jobs=2))
        print(len(forks), result.files, sorted({{f.rule for f in result.findings}}),
              [m for m in ("multiprocessing", "concurrent.futures") if m in sys.modules])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[0] == "2 6 ['ENV005'] []"


def test_a_worker_dead_while_idle_is_replaced_before_its_next_task():
    pool = ForkPool(1, _task)
    try:
        [idle] = pool._workers
        os.kill(idle.pid, signal.SIGKILL)
        os.waitpid(idle.pid, 0)  # surely dead before the task is given
        ended = _run_all(pool, {"pid": ("pid", None)})
    finally:
        pool.close()
    assert ended["pid"].result() not in (idle.pid, os.getpid())
