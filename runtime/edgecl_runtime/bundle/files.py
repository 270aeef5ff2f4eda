"""Read a bundle's listed files once each: the bytes that were hashed are the bytes that are used.

Why: checking ``sha256`` by path and then letting ONNX Runtime (or numpy, or TensorRT) open the
path again leaves a window in which the file can be renamed over; the model that runs is then not
the one that was checked, although the file left on disk is. Here each file is opened once
(``O_NOFOLLOW``: a symlink in the bundle's place is refused; ``O_NONBLOCK``: a FIFO cannot hang
the reader), the descriptor must be a regular file of the listed size, the bytes are read from it
and hashed, and those same bytes are handed on. Nothing reopens a checked file by its path.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from ..errors import BundleError

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
    | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20


class FileProblem(Exception):
    """Why one listed file is not the one the manifest describes (a phrase, joined by the caller)."""


def _inside(root: Path, name: str) -> Path:
    """``root/name`` for a relative name without ``..``; FileProblem otherwise (checked before any I/O)."""
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\0" in name:
        raise FileProblem(f"{name} points outside the bundle")
    path = root / name
    if root.resolve() not in path.resolve().parents:
        raise FileProblem(f"{name} points outside the bundle")
    return path


def _read_fd(fd: int, name: str, expected_bytes: Any) -> bytes:
    """All bytes of the open descriptor, after checking it is a regular file of the listed size."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise FileProblem(f"{name} is not a regular file")
    if expected_bytes is not None and st.st_size != int(expected_bytes):
        raise FileProblem(f"{name} has {st.st_size} bytes, manifest says {expected_bytes}")
    parts = []
    while True:
        block = os.read(fd, _CHUNK)
        if not block:
            return b"".join(parts)
        parts.append(block)


def read_checked(root: Path, name: str, entry: Mapping[str, Any]) -> bytes:
    """The bytes of listed file ``name``, read once and matching ``entry`` (size, then sha256).

    Raises FileProblem (a phrase naming the file) for a missing, non-regular, linked, resized or
    altered file; PermissionError passes through (file modes are not a verdict on the bundle).
    """
    if not isinstance(entry, Mapping):
        raise FileProblem(f"{name} has no sha256/bytes record")
    path = _inside(root, name)
    try:
        fd = os.open(str(path), _OPEN_FLAGS)
    except FileNotFoundError:
        raise FileProblem(f"{name} is missing") from None
    except PermissionError:
        raise
    except OSError as exc:  # ELOOP: a symlink where a file was listed
        raise FileProblem(f"{name} cannot be opened as a plain file ({exc.strerror})") from None
    try:
        data = _read_fd(fd, name, entry.get("bytes"))
    finally:
        os.close(fd)
    if len(data) != int(entry.get("bytes", len(data))):
        raise FileProblem(f"{name} changed size while it was read")
    if hashlib.sha256(data).hexdigest() != str(entry.get("sha256", "")).lower():
        raise FileProblem(f"{name} was altered (sha256 mismatch)")
    return data


def read_all_checked(root: Path, files: Mapping[str, Any], keep: "set[str] | frozenset[str]",
                     where: str) -> dict[str, bytes]:
    """Check every listed file (one line naming every bad one); {name: bytes} for the names in ``keep``."""
    problems: list[str] = []
    kept: dict[str, bytes] = {}
    for name, entry in sorted(files.items()):
        try:
            data = read_checked(root, name, entry)
        except FileProblem as exc:
            problems.append(str(exc))
            continue
        if name in keep:
            kept[name] = data
    if problems:
        raise BundleError(f"bundle {where}: {'; '.join(problems)}; re-copy or re-export it")
    return kept
