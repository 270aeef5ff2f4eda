"""The header in front of every serialized TensorRT engine written by ``edgecl-rt build``.

A TensorRT plan only deserialises on the exact TensorRT version and GPU model it was built
for; feeding it another one gives a crash or an opaque error deep inside TensorRT.  The header
lets the runtime refuse early with a clear message.

Layout::

    b"EDGECLRT" | uint32 little-endian n | n bytes of UTF-8 JSON | serialized engine

JSON keys: header_version, tensorrt, gpu, compute_capability, precision, onnx_sha256,
max_batch, opt_batch, created.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

from .atomic_io import write_bytes_atomic
from .errors import EngineError

MAGIC = b"EDGECLRT"
HEADER_VERSION = 1
_LEN = struct.Struct("<I")
_MAX_JSON = 1 << 20
REQUIRED = ("header_version", "tensorrt", "gpu", "compute_capability", "precision", "onnx_sha256")
REBUILD = "rebuild it on this device with `edgecl-rt build BUNDLE`"


def pack_header(meta: dict[str, Any]) -> bytes:
    """MAGIC + length + JSON for ``meta`` (header_version is filled in)."""
    full = {"header_version": HEADER_VERSION, **meta}
    missing = [k for k in REQUIRED if k not in full]
    if missing:
        raise ValueError(f"engine header lacks {', '.join(missing)}")
    body = json.dumps(full, sort_keys=True, allow_nan=False).encode("utf-8")
    return MAGIC + _LEN.pack(len(body)) + body


def unpack_header(blob: bytes, source: str = "engine") -> tuple[dict[str, Any], int]:
    """Parse the header at the start of ``blob``; return (meta, offset of the engine bytes)."""
    head = len(MAGIC) + _LEN.size
    if len(blob) < head or blob[:len(MAGIC)] != MAGIC:
        raise EngineError(f"{source} has no edgecl-rt header (a raw or foreign TensorRT plan); "
                          f"{REBUILD}")
    (n,) = _LEN.unpack(blob[len(MAGIC):head])
    if n > _MAX_JSON or len(blob) < head + n:
        raise EngineError(f"{source} has a truncated or corrupt header; {REBUILD}")
    try:
        meta = json.loads(blob[head:head + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise EngineError(f"{source} has a corrupt header; {REBUILD}")
    if not isinstance(meta, dict) or any(k not in meta for k in REQUIRED):
        raise EngineError(f"{source} header lacks required fields; {REBUILD}")
    if int(meta["header_version"]) > HEADER_VERSION:
        raise EngineError(f"{source} header version {meta['header_version']} is newer than this "
                          f"runtime supports ({HEADER_VERSION}); upgrade edgecl-rt")
    return meta, head + n


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Header of an engine file, reading only the first bytes (the plan can be 100s of MB)."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(len(MAGIC) + _LEN.size)
            if len(start) == len(MAGIC) + _LEN.size and start[:len(MAGIC)] == MAGIC:
                (n,) = _LEN.unpack(start[len(MAGIC):])
                start += fh.read(min(n, _MAX_JSON))
    except OSError as exc:
        raise EngineError(f"cannot read engine {path} ({exc.strerror}); {REBUILD}")
    return unpack_header(start, str(path))[0]


def read_engine(path: str | os.PathLike[str]) -> tuple[dict[str, Any], bytes]:
    """(header, serialized engine bytes) of an engine file."""
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise EngineError(f"cannot read engine {path} ({exc.strerror}); {REBUILD}")
    meta, offset = unpack_header(blob, str(path))
    if offset == len(blob):
        raise EngineError(f"engine {path} holds a header but no plan; {REBUILD}")
    return meta, blob[offset:]


def write_engine(path: str | os.PathLike[str], meta: dict[str, Any], plan: bytes) -> Path:
    """Write header + plan atomically."""
    return write_bytes_atomic(path, pack_header(meta) + bytes(plan))


def compatibility_problems(meta: dict[str, Any], tensorrt_version: str, gpu: str,
                           compute_capability: str, onnx_sha256: str | None = None) -> list[str]:
    """Why ``meta`` cannot run here (empty list = compatible).

    TensorRT plans are tied to the exact TensorRT version and to the GPU (name and SM
    version); the ONNX hash catches an engine left over from a previous task's model.
    """
    problems = []
    if str(meta["tensorrt"]) != str(tensorrt_version):
        problems.append(f"built with TensorRT {meta['tensorrt']}, this device has {tensorrt_version}")
    if str(meta["compute_capability"]) != str(compute_capability) or str(meta["gpu"]) != str(gpu):
        problems.append(f"built on {meta['gpu']} (sm {meta['compute_capability']}), this device is "
                        f"{gpu} (sm {compute_capability})")
    if onnx_sha256 is not None and str(meta["onnx_sha256"]) != str(onnx_sha256):
        problems.append("built from a different ONNX model than this bundle's")
    return problems


def check_compatible(meta: dict[str, Any], tensorrt_version: str, gpu: str,
                     compute_capability: str, onnx_sha256: str | None = None,
                     source: str = "engine") -> None:
    """Raise EngineError (one line, says to rebuild) when the engine cannot run here."""
    problems = compatibility_problems(meta, tensorrt_version, gpu, compute_capability, onnx_sha256)
    if problems:
        raise EngineError(f"{source} cannot be used here: {'; '.join(problems)}; {REBUILD}")
