"""Paths that come from outside (a manifest, a URI, a file name) and the one folder they may be written under.

A path from a manifest or a URI is a plain relative POSIX path: no absolute
path, no ``.`` or ``..`` part, no empty part, no backslash, no drive letter
(``C:x`` is drive-relative on Windows), no NUL. Where it is written, no folder
between the destination and the file may be a symbolic link, so a link planted
in the destination cannot carry a write elsewhere. Both are checked before
anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import InvalidInput

__all__ = ["check_relative_path", "check_tree", "confined"]

_MAX_PATH = 4096


def check_relative_path(path: object, *, what: str) -> PurePosixPath:
    """``path`` as a relative POSIX path that stays under any folder it is joined to; else :class:`InvalidInput`."""
    if not isinstance(path, str) or not path or len(path) > _MAX_PATH or "\0" in path or "\\" in path:
        raise InvalidInput(f"{what} names an unsafe path {path!r}: expected a relative path such as 'dir/file'")
    pure = PurePosixPath(path)
    parts = path.split("/")
    if (
        pure.is_absolute()
        or any(part in ("", ".", "..") for part in parts)
        or any(PureWindowsPath(part).drive for part in parts)
    ):
        raise InvalidInput(f"{what} names an unsafe path {path!r}: expected a relative path such as 'dir/file'")
    return pure


def check_tree(paths: Iterable[str], *, what: str) -> None:
    """Every path safe, none repeated, and none both a file and the folder of another (``a`` and ``a/b``)."""
    files: set[str] = set()
    folders: set[str] = set()
    for path in paths:
        pure = check_relative_path(path, what=what)
        if path in files or path in folders:
            raise InvalidInput(f"{what} names an unsafe or repeated path {path!r}")
        files.add(path)
        folders.update(str(parent) for parent in pure.parents if str(parent) != ".")
    clash = sorted(files & folders)
    if clash:
        raise InvalidInput(f"{what} names {clash[0]!r} both as a file and as a folder")


def confined(root: Path, relative: str, *, what: str) -> Path:
    """Where ``relative`` goes under ``root``, refusing a path that would leave it or pass through a link."""
    target = root.joinpath(*check_relative_path(relative, what=what).parts)
    current = root
    for part in target.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise InvalidInput(f"{current} is a link; {what} is written only into plain folders under {root}")
    return target
