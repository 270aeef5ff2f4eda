"""Every file and folder edgecl writes, written atomically; and the checksum every record uses.

The one mechanism: the new content is written under a temporary name in the destination's own
folder (same file system, so ``os.replace`` is an atomic rename), flushed to disk, and renamed
over the final name. A reader, the serve watcher or a rerun after ``kill -9`` therefore sees the
old file or the complete new one, never half of one. Folders (a task of the run store, an export
bundle) are staged the same way and renamed into place in one step.

A folder that must not replace anything (``staged_dir(replace=False)``: a new task of the run
store, the bundle ``edgecl-rt update`` writes) is published with :func:`rename_noreplace`, so a
folder that appears at the destination while it is being built is refused, never deleted.
A staging folder carries the pid of its writer (``.NAME.partial-PID-XXXX``): one whose writer
died (``kill -9``) is found and removed by :func:`clean_stale_partials`.

Standard library and numpy only: the device runtime, the exporters and the trainer all use it.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np

from .strict_json import NonFiniteNumber, loads_finite

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
    """Parse a JSON file strictly (:mod:`.strict_json`: finite numbers, no repeated key, Unicode text);
    a missing or corrupt file is a one-line error naming ``what`` and the path."""
    target = Path(path)
    try:
        return loads_finite(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {target}") from None
    except (json.JSONDecodeError, NonFiniteNumber, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{what} is corrupt (not valid strict JSON): {target}: {exc}") from None


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (the checksum every manifest and record uses)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _partial_prefix(target: Path) -> str:
    """``.NAME.partial-PID-``: the staging folder names its writer, so a dead writer's is recognisable."""
    return f".{target.name}.{PARTIAL}-{os.getpid()}-"


@contextlib.contextmanager
def temp_dir_beside(path: PathLike) -> Iterator[Path]:
    """A fresh temporary folder next to ``path`` (same file system), removed on exit."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_partial_prefix(target), dir=target.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _writer_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (another user's counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def _stale(folder: Path) -> bool:
    """A staging folder whose writer is gone: its pid is dead, or it predates pids in names."""
    rest = folder.name.rpartition(f".{PARTIAL}-")[2]
    pid, sep, _ = rest.partition("-")
    if not sep or not pid.isdigit():
        return True  # written before staging folders carried a pid: no live writer can be proven
    return not _writer_alive(int(pid))


def _remove_stale(candidates: "list[Path]") -> list:
    removed = []
    for folder in candidates:
        if folder.is_dir() and not folder.is_symlink() and _stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def clean_stale_partials(final: PathLike) -> list:
    """Remove the staging folders of ``final`` left by writers that died (``kill -9``); returns them.

    Only real folders named ``.NAME.partial-*`` whose writer process no longer exists are removed:
    a live writer's staging folder, a symbolic link and anything else are left alone. The pid test
    holds on one machine; a folder shared by machines (NFS) may hold another machine's live writer.
    """
    target = Path(final)
    try:
        return _remove_stale(sorted(target.parent.glob(f"{glob_escape(f'.{target.name}.{PARTIAL}-')}*")))
    except OSError:
        return []


def clean_stale_partials_in(folder: PathLike) -> list:
    """:func:`clean_stale_partials` for every ``.*.partial-*`` folder directly in ``folder``."""
    try:
        return _remove_stale(sorted(Path(folder).glob(f".*.{PARTIAL}-*")))
    except OSError:
        return []


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters made literal (a folder may be called ``a[1]``)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


RENAME_NOREPLACE = 1  # linux/fs.h
_AT_FDCWD = -100


def _load_renameat2() -> Any:
    """libc's ``renameat2`` (glibc 2.28+, Linux 3.15+), or None where there is none."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _load_renameat2()


def rename_noreplace(src: PathLike, dst: PathLike) -> str:
    """Rename ``src`` to ``dst`` unless ``dst`` exists (in any form, a dangling link included).

    Raises FileExistsError when it does, leaving both as they are. Linux: one
    ``renameat2(RENAME_NOREPLACE)`` call, atomic against any other process. Elsewhere, or on a file
    system that refuses the flag: a re-check and ``os.rename`` under an exclusive lock on the parent
    folder, which excludes every edgecl writer but not a foreign one. Returns the method used
    (``"renameat2"`` or ``"lock"``).
    """
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), RENAME_NOREPLACE) == 0:
            return "renameat2"
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), os.fspath(dst))  # EEXIST: FileExistsError
    _rename_under_lock(Path(src), Path(dst))
    return "lock"


def _rename_under_lock(src: Path, dst: Path) -> None:
    """The fallback of :func:`rename_noreplace`: check and rename while holding the parent's lock."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the re-check alone
        fcntl = None
    fd = os.open(dst.parent, os.O_RDONLY)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(dst))
        os.rename(src, dst)
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def staged_dir(final: PathLike, replace: bool = True) -> Iterator[Path]:
    """An empty staging folder that becomes ``final`` in one rename when the body succeeds.

    ``replace=True``: an existing ``final`` is moved aside first and deleted only once the new
    folder is in place (``os.replace`` cannot overwrite a non-empty folder). ``replace=False``: an
    existing ``final`` is an error (FileExistsError), before the body runs and again at the rename
    (:func:`rename_noreplace`): a ``final`` that appeared meanwhile is left exactly as it is. On any
    exception the staging folder is deleted and ``final`` is left exactly as it was.
    """
    target = Path(final)
    if not replace and os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, f"{target} already exists", os.fspath(target))
    with temp_dir_beside(target) as stage:
        yield stage
        os.chmod(stage, _public_mode(folder=True))  # staged private (mkdtemp), published readable
        if replace:
            _swap_into_place(stage, target)
        else:
            rename_noreplace(stage, target)


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
