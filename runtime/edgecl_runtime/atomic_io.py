"""Every file and folder edgecl writes, written atomically; and the checksum every record uses.

The one mechanism: the new content is written under a temporary name in the destination's own
folder (same file system, so ``os.replace`` is an atomic rename), flushed to disk, and renamed
over the final name. A reader, the serve watcher or a rerun after ``kill -9`` therefore sees the
old file or the complete new one, never half of one. Folders (a task of the run store, an export
bundle) are staged the same way and renamed into place in one step.

Standard library and numpy only: the device runtime, the exporters and the trainer all use it.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np

PARTIAL = "partial"  # a folder being built is named .NAME.partial-XXXX until it is complete
PathLike = Union[str, "os.PathLike[str]"]  # runtime supports Python 3.8 (JetPack 5)


def _umask() -> int:
    """The process umask (read without changing it where Linux allows)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)  # elsewhere: swap and restore (a moment with 022, never a looser mask)
    os.umask(old)
    return old


def _public_mode(folder: bool = False) -> int:
    """The mode a plain ``open``/``mkdir`` would give: 0666/0777 less the umask (0644/0755 usually).

    Temporary names are created private (0600/0700, ``mkstemp``/``mkdtemp``) so nobody reads a
    half-written file; the final file gets this mode before the rename, so a service running as
    another user can read the bundle.
    """
    return (0o777 if folder else 0o666) & ~_umask()


@contextlib.contextmanager
def atomic_path(path: PathLike, mode: "int | None" = None) -> Iterator[Path]:
    """A temporary file path beside ``path``; when the body succeeds it is synced and renamed over it.

    For writers that want a path (safetensors, onnx.save). On any exception the temporary file
    is removed and ``path`` is left as it was. The file ends with ``mode`` (default:
    :func:`_public_mode`; private keys pass 0o600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _public_mode() if mode is None else mode)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: PathLike, data: bytes, mode: "int | None" = None) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders created) and return the path."""
    with atomic_path(path, mode) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: PathLike, obj: Any) -> Path:
    """Indented strict JSON (NaN/Inf refused: the reader on the device is strict too), atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"))


def savez_atomic(path: PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` atomically; object arrays are refused because loading them needs pickle."""
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise ValueError(f"array {name!r} has dtype object: only numeric arrays are stored (no pickle)")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return write_bytes_atomic(path, buf.getvalue())


def move_into_place(src: PathLike, dst: PathLike) -> Path:
    """Rename a finished file (made under a temporary name by a tool that writes paths) onto ``dst``."""
    os.replace(src, dst)
    return Path(dst)


def read_json(path: PathLike, what: str = "file") -> Any:
    """Parse a JSON file; a missing or corrupt file is a one-line error naming ``what`` and the path."""
    target = Path(path)
    try:
        return json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {target}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} is corrupt (not valid JSON): {target}: {exc}") from None


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (the checksum every manifest and record uses)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def temp_dir_beside(path: PathLike) -> Iterator[Path]:
    """A fresh temporary folder next to ``path`` (same file system), removed on exit."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{PARTIAL}-", dir=target.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(final: PathLike, replace: bool = True) -> Iterator[Path]:
    """An empty staging folder that becomes ``final`` in one rename when the body succeeds.

    ``replace=True``: an existing ``final`` is moved aside first and deleted only once the new
    folder is in place (``os.replace`` cannot overwrite a non-empty folder). ``replace=False``: an
    existing ``final`` is an error (FileExistsError). On any exception the staging folder is deleted
    and ``final`` is left exactly as it was.
    """
    target = Path(final)
    if not replace and target.exists():
        raise FileExistsError(f"{target} already exists")
    with temp_dir_beside(target) as stage:
        yield stage
        _swap_into_place(stage, target)


def _swap_into_place(stage: Path, final: Path) -> None:
    os.chmod(stage, _public_mode(folder=True))  # staged private (mkdtemp), published readable
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
