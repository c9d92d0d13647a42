"""A progress bar on stderr for scans of many files, only on a terminal.

`Progress.on(stream)` is None unless the stream is a TTY (so CI logs, pipes and pre-commit never
see it); `--quiet` skips it altogether. Phases with fewer than `MIN_FILES` files draw nothing,
redraws are throttled, and `close()` erases the bar so the report starts on a clean line.
"""
from __future__ import annotations

import os
import time
from typing import Callable, TextIO

MIN_FILES = 25  # fewer files than this finish before a bar is worth drawing
INTERVAL = 0.05  # seconds between redraws


class Progress:
    def __init__(self, stream: TextIO, min_files: int = MIN_FILES, interval: float = INTERVAL):
        self.stream = stream
        self.min_files = min_files
        self.interval = interval
        self.drawn = False
        self._last = 0.0

    @classmethod
    def on(cls, stream: TextIO) -> "Progress | None":
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if not tty or os.environ.get("TERM") == "dumb":
            return None
        return cls(stream)

    def start(self, label: str, total: int) -> Callable[[], None]:
        """Begin a phase of `total` steps; returns the function to call once per step."""
        if total < self.min_files:
            return _nothing
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            now = time.monotonic()
            if done == total or now - self._last >= self.interval:
                self._last = now
                self._draw(label, done, total)

        self._draw(label, 0, total)
        return tick

    def _draw(self, label: str, done: int, total: int) -> None:
        import shutil
        width = shutil.get_terminal_size((80, 24)).columns
        counter = f" {done}/{total} files"
        head = f"{label.capitalize()} "
        bar_width = max(10, min(40, width - len(head) - len(counter) - 3))
        filled = bar_width * done // total if total else bar_width
        line = f"{head}[{'#' * filled}{'.' * (bar_width - filled)}]{counter}"
        try:
            self.stream.write("\r" + line[: width - 1] + "\033[K")
            self.stream.flush()
        except (OSError, ValueError):
            return
        self.drawn = True

    def close(self) -> None:
        """Erase the bar (if one was drawn)."""
        if self.drawn:
            try:
                self.stream.write("\r\033[K")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self.drawn = False


def _nothing() -> None:
    pass
