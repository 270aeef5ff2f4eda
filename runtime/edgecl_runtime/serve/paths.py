"""Which files a ``serve`` request may name: regular files inside the operator's allowed folders.

Why: whoever can write to serve's stdin (a socket bridge, another process) must not be able to
read arbitrary files, make the server walk a directory tree, or learn whether a file exists
outside the folders the operator opened with ``--allow`` (default: the current folder).

Rules, in order:

1. a path is a non-empty string without NUL bytes, at most ``PATH_MAX`` (4096) bytes and
   ``MAX_COMPONENTS`` (256) components, refused before anything is resolved (resolving costs one
   lookup per component of an ever longer path: a 300 KB name once held the server 40 s);
   relative paths are relative to the folder serve was started in;
2. its *real* path (``..`` removed lexically, then every symlink resolved) must lie inside one
   of the roots;
   otherwise the refusal is one fixed text, the same whether the file exists or not (the check
   is made before anything is opened);
3. inside a root it must be a regular file: folders are refused (no expansion), as are FIFOs and
   devices (reading one could block the server or never end).

Then the file is opened (:meth:`AllowedRoots.open`) relative to its root's descriptor, one
component at a time, each with ``O_NOFOLLOW``, the last also ``O_NONBLOCK``; the opened
descriptor must again be a regular file, and the image is decoded from that descriptor. A
symlink or FIFO put in the checked file's place (or a folder's) between the check and the open
is therefore refused, never followed or waited on.

The default root is the folder serve started in, except ``/``: serve started there without
``--allow`` would let requests read any file, so it is refused with one line.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Iterable, Optional, Tuple

from ..errors import ImageError, RuntimeFailure

_NAME_CHARS = 200  # names echoed in errors are shortened: a reply must not grow with the request
PATH_MAX = 4096  # bytes, as Linux's PATH_MAX
MAX_COMPONENTS = 256
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | _CLOEXEC
_FILE_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC


def _shorten(name: str) -> str:
    """``name`` for an error message: at most ``_NAME_CHARS`` characters."""
    return name if len(name) <= _NAME_CHARS else name[:_NAME_CHARS] + "..."


class AllowedRoots:
    """The folders (real paths) image files must be inside; see the module docstring."""

    def __init__(self, roots: Optional[Iterable[str | os.PathLike[str]]] = None) -> None:
        self.cwd = Path(os.getcwd())
        given = list(roots or [])
        if not given and os.path.realpath(self.cwd) == os.path.realpath(os.sep):
            raise RuntimeFailure("serve started in / without --allow: requests could read any file on "
                                 "this machine; pass --allow FOLDER (the folder images come from)")
        self.roots = tuple(self._root(r) for r in given or [self.cwd])

    def _root(self, raw: str | os.PathLike[str]) -> Path:
        real = Path(os.path.realpath(self.cwd / Path(raw)))
        if not real.is_dir():
            raise RuntimeFailure(f"--allow {raw} is not a folder; name an existing folder of images")
        return real

    def contains(self, real: Path) -> bool:
        """True when the resolved ``real`` is one of the roots or below one."""
        return any(real == root or root in real.parents for root in self.roots)

    def resolve(self, raw: object) -> Path:
        """The real path of an allowed regular file named by ``raw``; ImageError otherwise."""
        if not isinstance(raw, str) or not raw:
            raise ImageError("an image path must be a non-empty string")
        name = _shorten(raw)
        if "\0" in raw:
            raise ImageError(f"{name!r}: a path cannot contain a NUL byte")
        _check_size(raw, name)
        try:  # ".." is removed lexically first: no component outside the named route is looked at
            real = Path(os.path.realpath(os.path.normpath(self.cwd / raw)))
        except (OSError, ValueError):
            real = None
        if real is None or not self.contains(real):
            raise ImageError(f"{name}: outside the folders serve may read; only files under "
                             "--allow folders (default: the folder serve started in) are opened")
        return _regular_file(real, name)

    def open(self, raw: object) -> Tuple[BinaryIO, str]:
        """(the allowed regular file named by ``raw`` opened for reading, its real path for messages).

        The caller decodes from the returned file (and closes it); the name is never reopened.
        """
        real = self.resolve(raw)
        root = next(r for r in self.roots if real == r or r in real.parents)
        return os.fdopen(_open_beneath(root, real, str(real)), "rb"), str(real)


def _check_size(raw: str, name: str) -> None:
    """Refuse names too long or too deep to resolve cheaply, before anything is looked up."""
    size = len(raw.encode("utf-8", "surrogatepass"))
    if size > PATH_MAX:
        raise ImageError(f"{name}: path has {size} bytes, over the limit of {PATH_MAX}; name the file by a shorter path")
    depth = raw.count("/") + 1
    if depth > MAX_COMPONENTS:
        raise ImageError(f"{name}: path has {depth} components, over the limit of {MAX_COMPONENTS}; "
                         "name the file by a shorter path")


def _open_beneath(root: Path, real: Path, name: str) -> int:
    """A descriptor of the regular file ``real`` inside ``root``, opened component by component
    from ``root`` without following any link; ImageError when something else is found there."""
    parts = real.relative_to(root).parts
    dir_fd = os.open(str(root), os.O_RDONLY | _CLOEXEC)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = next_fd
        fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except (OSError, IndexError) as exc:  # ELOOP/ENOTDIR: a link or non-folder appeared after the check
        raise ImageError(f"{name}: changed while it was being opened (a link or a non-file in its "
                         f"place: {getattr(exc, 'strerror', exc)}); refused") from None
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ImageError(f"{name}: not a regular file; name an image file")
    return fd


def _regular_file(real: Path, name: str) -> Path:
    """``real`` when it is a regular file; one-line ImageError naming ``name`` otherwise."""
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ImageError(f"{name}: is a folder; serve does not expand folders, name each image file")
    if not stat.S_ISREG(mode):
        raise ImageError(f"{name}: not a regular file; name an image file")
    return real
