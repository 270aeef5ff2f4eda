"""Atomic file and directory writes, and file digests.

Every file this package writes goes through here: the bytes land in a temporary file in the
destination's own directory (same file system, so ``os.replace`` is an atomic rename) and only a
complete file ever carries the final name. A whole bundle is staged in a temporary sibling directory
and renamed into place in one step, so a reader sees either the old bundle or the new one, never a
mixture, and a failed export leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from edgecl_runtime.atomic_io import sha256_file, write_bytes_atomic, write_json_atomic  # noqa: F401


atomic_write_bytes = write_bytes_atomic
atomic_write_json = write_json_atomic


def atomic_savez(path: str | Path, **arrays: np.ndarray) -> Path:
    """``np.savez`` into memory, then an atomic write. Object arrays are refused (they need pickle)."""
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise ValueError(f"array {name!r} has dtype object: only numeric arrays are stored (no pickle)")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


@contextlib.contextmanager
def temp_path_beside(path: str | Path) -> Iterator[Path]:
    """A fresh temporary directory next to ``path`` (removed on exit, whatever happens)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(final: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory; on success it replaces ``final`` in one rename.

    If ``final`` already exists it is moved aside first and deleted only after the new directory is
    in place (``os.replace`` cannot overwrite a non-empty directory). On any exception the staging
    directory is deleted and ``final`` is left exactly as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield stage
        _swap_into_place(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _swap_into_place(stage: Path, final: Path) -> None:
    if not final.exists():
        os.replace(stage, final)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
    os.rmdir(old)
    os.replace(final, old)
    try:
        os.replace(stage, final)
    except BaseException:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)
