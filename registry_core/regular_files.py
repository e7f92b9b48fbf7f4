"""Opening a file the user named, refusing anything but a regular file, without ever blocking.

``open()`` on a FIFO waits for a writer, on a device reads forever, and a
symlink loop or a socket fails with errors a caller rarely expects. Here the
path is checked with ``stat`` first, then opened with ``O_NONBLOCK`` and checked
again on the open descriptor, so a path swapped in between is caught too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import InvalidInput

__all__ = ["file_kind", "open_regular"]

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words: "a FIFO (named pipe)", "a socket"…"""
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | Path, *, what: str) -> BinaryIO:
    """Open ``path`` for reading in binary if it is a regular file; otherwise raise :class:`InvalidInput`."""
    shown = str(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {shown!r}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte, or text the filesystem's encoding cannot hold
        raise InvalidInput(f"invalid path for {what}: {shown!r}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"{what} {shown!r} is {file_kind(info.st_mode)}, not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {shown!r}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidInput(f"{what} {shown!r} is {file_kind(mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
