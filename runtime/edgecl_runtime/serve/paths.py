"""Which files a ``serve`` request may name: regular files inside the operator's allowed folders.

Why: whoever can write to serve's stdin (a socket bridge, another process) must not be able to
read arbitrary files, make the server walk a directory tree, or learn whether a file exists
outside the folders the operator opened with ``--allow`` (default: the current folder).

Rules, in order:

1. a path is a non-empty string without NUL bytes; relative paths are relative to the folder
   serve was started in;
2. its *real* path (``..`` removed lexically, then every symlink resolved) must lie inside one
   of the roots;
   otherwise the refusal is one fixed text, the same whether the file exists or not (the check
   is made before anything is opened);
3. inside a root it must be a regular file: folders are refused (no expansion), as are FIFOs and
   devices (reading one could block the server or never end).

The caller opens the returned real path, not the name it was given, so the file that was
checked is the file that is read (short of a concurrent rename by someone who can already
write inside an allowed folder).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable, Optional

from ..errors import ImageError, RuntimeFailure

_NAME_CHARS = 200  # names echoed in errors are shortened: a reply must not grow with the request


def _shorten(name: str) -> str:
    """``name`` for an error message: at most ``_NAME_CHARS`` characters."""
    return name if len(name) <= _NAME_CHARS else name[:_NAME_CHARS] + "..."


class AllowedRoots:
    """The folders (real paths) image files must be inside; see the module docstring."""

    def __init__(self, roots: Optional[Iterable[str | os.PathLike[str]]] = None) -> None:
        self.cwd = Path(os.getcwd())
        given = list(roots or []) or [self.cwd]
        self.roots = tuple(self._root(r) for r in given)

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
        try:  # ".." is removed lexically first: no component outside the named route is looked at
            real = Path(os.path.realpath(os.path.normpath(self.cwd / raw)))
        except (OSError, ValueError):
            real = None
        if real is None or not self.contains(real):
            raise ImageError(f"{name}: outside the folders serve may read; only files under "
                             "--allow folders (default: the folder serve started in) are opened")
        return _regular_file(real, name)


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
