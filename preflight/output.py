"""The files preflight writes (`--output`, `--write-baseline`): whole or not at all, never
through a link.

The folder written into may be a scanned repository, which can hold a symbolic link where the
report goes (a committed `preflight.sarif` pointing at any file the CI runner can write). Such a
link is refused; a regular file is replaced by a complete new one (written beside it, then
renamed over it: a rename replaces whatever is at the name, never a link's target, so a link
swapped in meanwhile is replaced, not followed); a device or a pipe (`/dev/null`, a named pipe)
is written in place, opened without following a link.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Iterable, Iterator

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)


class OutputError(Exception):
    """The file cannot be written; the CLI exits 2 with this message."""


def write_file(path: str, text: str | Iterable[str], what: str = "report") -> None:
    """Write `text` (or its pieces, in order) as UTF-8 to `path`; OutputError, naming `what` was
    written, when it cannot be."""
    # Every reporter escapes what it cannot encode; the error handler only keeps a report that
    # would still hold a lone surrogate from being lost whole.
    data = (piece.encode("utf-8", "backslashreplace") for piece in ([text] if isinstance(text, str) else text))
    try:
        try:
            st: os.stat_result | None = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise _through_a_link(path, what)
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{path}: cannot write the {what}: a folder")
        if st is not None and not stat.S_ISREG(st.st_mode) and _write_in_place(path, data, what):
            return
        _replace(path, data, stat.S_IMODE(st.st_mode) if st is not None and stat.S_ISREG(st.st_mode) else None)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the {what}: {exc.strerror or exc}") from None


def _through_a_link(path: str, what: str) -> OutputError:
    return OutputError(f"{path}: a symbolic link; preflight writes no {what} through a link "
                       f"(remove the link, or write to another file)")


def _write_in_place(path: str, data: Iterator[bytes], what: str) -> bool:
    """Write to a device or a pipe; False (nothing written) when a regular file took its place."""
    try:
        fd = os.open(path, os.O_WRONLY | _NOFOLLOW | _NOCTTY)
    except OSError as exc:
        if _NOFOLLOW and exc.errno == errno.ELOOP:  # a link took its place
            raise _through_a_link(path, what) from None
        raise
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        _write_all(fd, data)
        return True
    finally:
        os.close(fd)


def _replace(path: str, data: Iterator[bytes], mode: int | None) -> None:
    """A new file beside `path`, complete and on disk, then renamed to it. A new report gets the
    mode `open()` would give it (0o666 less the umask); a replaced one keeps its mode."""
    folder, name = os.path.split(os.path.abspath(path))
    for _ in range(100):
        # (what secrets.token_hex does, without its import of hmac, which loads OpenSSL)
        tmp = os.path.join(folder, f".{name}.{os.urandom(4).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _NOCTTY, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 random names all taken
        raise FileExistsError(f"no free temporary name in {folder}")
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode) if hasattr(os, "fchmod") else os.chmod(tmp, mode)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_all(fd: int, data: Iterator[bytes]) -> None:
    for piece in data:
        view = memoryview(piece)
        while view:
            view = view[os.write(fd, view):]
