"""Worker processes for a large scan, forked from the scanning process.

A worker inherits everything the scan holds when it is forked (the kept documents, the rules,
the configuration, the list of files to check), so a task is only which files to check: a few
numbers. Each worker runs one task at a time on pipes of its own, and sends back its results
pickled. A worker that dies (killed by the out-of-memory killer, a crash in a parser's C code)
is the loss of its own task only, and the scanning process knows which task that was.

Not `concurrent.futures.ProcessPoolExecutor`: its imports (multiprocessing, queues, sockets,
compression modules) and its threads cost the scanning process 1.5 MiB, and every worker,
forked after them, as much again; and a death breaks its whole pool without saying which task
was running.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import struct
from typing import Any, Callable

_HEADER = struct.Struct("<QB")  # payload length, outcome
_DONE, _FAILED = 0, 1
_CHUNK = 1 << 16


class Outcome:
    """What became of a task: its result, the exception it raised (as text), or a death."""

    __slots__ = ("payload", "failed", "died")

    def __init__(self, payload: bytearray | None = None, failed: str | None = None, died: bool = False):
        self.payload = payload  # the pickled result: unpickled only when the caller takes it
        self.failed = failed
        self.died = died

    def result(self) -> Any:
        assert self.payload is not None
        return pickle.loads(self.payload)


class _Worker:
    __slots__ = ("pid", "tasks", "results", "task", "header", "payload", "filled")

    def __init__(self, pid: int, tasks: int, results: int):
        self.pid = pid
        self.tasks = tasks  # the pipe the worker reads its tasks from
        self.results = results  # and the one it writes their results to
        self.task: Any = None  # the caller's handle of the task running, None when idle
        self.header = bytearray()
        self.payload: bytearray | None = None
        self.filled = 0

    def close(self) -> None:
        for fd in (self.tasks, self.results):
            if fd >= 0:
                os.close(fd)
        self.tasks = self.results = -1  # never closed twice: the numbers are soon another pipe's


class ForkPool:
    """`workers` processes, each running `run(task)` for the tasks it is given, one at a time.
    `start` gives a task to an idle worker; `wait` returns the tasks that ended since, with
    their outcomes. A worker that died is replaced by a fresh one, forked then."""

    def __init__(self, workers: int, run: Callable[[Any], Any]):
        self._run = run
        self._workers: list[_Worker] = []
        try:
            for _ in range(workers):
                self._workers.append(self._fork())
        except BaseException:
            self.close()
            raise

    def idle(self) -> int:
        return sum(1 for w in self._workers if w.task is None)

    def start(self, handle: Any, task: Any) -> None:
        """Give `task` to an idle worker; `handle` is what `wait` names it by."""
        worker = next(w for w in self._workers if w.task is None)
        payload = pickle.dumps(task, pickle.HIGHEST_PROTOCOL)
        message = _HEADER.pack(len(payload), _DONE) + payload
        worker.task = handle
        try:
            _write_all(worker.tasks, message)
        except OSError:  # it died while idle: the task goes to a fresh worker
            place = self._workers.index(worker)
            self._replace(worker)
            worker = self._workers[place]
            worker.task = handle
            try:
                _write_all(worker.tasks, message)
            except OSError:
                pass  # dead at once too: `wait` reports the task as lost with it

    def wait(self) -> list[tuple[Any, Outcome]]:
        """Block until a worker ends its task (or dies): (handle, outcome) of each task ended."""
        by_fd = {w.results: w for w in self._workers}
        ready, _, _ = select.select(list(by_fd), [], [])
        ended = []
        for fd in ready:
            worker = by_fd[fd]
            outcome = self._read(worker)
            if outcome is None:
                continue
            handle, worker.task = worker.task, None
            if outcome.died:
                self._replace(worker)
            if handle is not None:
                ended.append((handle, outcome))
        return ended

    def close(self, kill: bool = False) -> None:
        """End every worker: an idle one ends when its task pipe closes; a busy one is killed
        with `kill`, else ends with its task (its result has nowhere to go)."""
        for worker in self._workers:
            if kill and worker.task is not None:
                try:
                    os.kill(worker.pid, signal.SIGKILL)
                except OSError:
                    pass
            worker.close()
        for worker in self._workers:
            _reap(worker.pid)
        self._workers = []

    def _read(self, worker: _Worker) -> Outcome | None:
        """Read what is there of the worker's message: its outcome once whole, else None."""
        try:
            if worker.payload is None:
                chunk = os.read(worker.results, _HEADER.size - len(worker.header))
                if not chunk:
                    return Outcome(died=True)
                worker.header += chunk
                if len(worker.header) < _HEADER.size:
                    return None
                size, _ = _HEADER.unpack(worker.header)
                worker.payload, worker.filled = bytearray(size), 0
            if worker.filled < len(worker.payload):
                view = memoryview(worker.payload)[worker.filled:worker.filled + _CHUNK]
                read = os.readv(worker.results, [view])
                view.release()
                if not read:
                    return Outcome(died=True)
                worker.filled += read
                if worker.filled < len(worker.payload):
                    return None
        except OSError:
            return Outcome(died=True)
        payload, (_, kind) = worker.payload, _HEADER.unpack(worker.header)
        worker.header, worker.payload, worker.filled = bytearray(), None, 0
        if kind == _FAILED:
            return Outcome(failed=bytes(payload).decode("utf-8", "replace"))
        return Outcome(payload)

    def _replace(self, worker: _Worker) -> None:
        place = self._workers.index(worker)
        del self._workers[place]
        worker.close()
        _reap(worker.pid)
        self._workers.insert(place, self._fork())

    def _fork(self) -> _Worker:
        tasks_read, tasks_write = os.pipe()
        results_read, results_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the scan's own frames
            code = 1
            try:
                os.close(tasks_write)
                os.close(results_read)
                for other in self._workers:  # their pipes end in the scanning process only
                    other.close()
                _serve(self._run, tasks_read, results_write)
                code = 0
            finally:
                os._exit(code)
        os.close(tasks_read)
        os.close(results_write)
        return _Worker(pid, tasks_write, results_read)


def _serve(run: Callable[[Any], Any], tasks: int, results: int) -> None:
    """A worker's life: each task read is run and its result written back, until the pipe of
    tasks closes."""
    while True:
        header = _read_exactly(tasks, _HEADER.size)
        if header is None:
            return
        size, _ = _HEADER.unpack(header)
        message = _read_exactly(tasks, size)
        if message is None:
            return
        try:
            payload, kind = pickle.dumps(run(pickle.loads(message)), pickle.HIGHEST_PROTOCOL), _DONE
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled: the caller decides
            payload, kind = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"), _FAILED
        _write_all(results, _HEADER.pack(len(payload), kind))
        _write_all(results, payload)


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts = []
    while size:
        chunk = os.read(fd, min(size, _CHUNK))
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:_CHUNK]):]


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
