"""Read a ``.safetensors`` file with numpy alone (the device has no torch and no safetensors wheel).

Format: 8 bytes little-endian header length n, n bytes of JSON ``{name: {"dtype", "shape",
"data_offsets": [begin, end]}, "__metadata__": {...}}``, then the tensors' bytes, little-endian,
row-major. Every offset is checked against the file size and the dtype x shape, so a truncated or
edited file is one ValueError naming the problem, never a silent short read. The header is strict
JSON (:mod:`.strict_json`: a tensor named twice is refused), and no error repeats the file's bytes
(a header length read from a file that is not safetensors would show its first 8 bytes).
"""
from __future__ import annotations

import json
import os
from typing import Dict

import numpy as np

from .strict_json import NonFiniteNumber, loads_finite

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "BOOL": "?"}
MAX_HEADER = 100 * 1024 * 1024


def read_safetensors(path: "str | os.PathLike[str]") -> Dict[str, np.ndarray]:
    """{name: array} of every tensor in ``path``; ValueError (one line) when the file is not valid."""
    with open(path, "rb") as fh:
        data = fh.read()
    return parse_safetensors(data, path)


def parse_safetensors(data: bytes, path: object) -> Dict[str, np.ndarray]:
    """{name: array} of the safetensors file whose bytes are ``data`` (``path`` names it in errors)."""
    if len(data) < 8:
        raise ValueError(f"{path} is truncated (no safetensors header)")
    n = int.from_bytes(data[:8], "little")
    if n > min(MAX_HEADER, len(data) - 8):
        raise ValueError(f"{path} is truncated or not a safetensors file (header length out of range)")
    try:
        header = loads_finite(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, NonFiniteNumber, RecursionError, json.JSONDecodeError):
        raise ValueError(f"{path} is not a safetensors file (unreadable header)") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a safetensors file (unreadable header)")
    body = memoryview(data)[8 + n:]
    return {name: _tensor(path, name, entry, body) for name, entry in header.items() if name != "__metadata__"}


def _tensor(path: object, name: str, entry: dict, body: memoryview) -> np.ndarray:
    try:
        dtype = np.dtype(DTYPES[entry["dtype"]])
        shape = tuple(int(s) for s in entry["shape"])
        begin, end = (int(v) for v in entry["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: tensor {name!r} has an unsupported or malformed entry") from None
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if not 0 <= begin <= end <= len(body) or end - begin != expected:
        raise ValueError(f"{path}: tensor {name!r} lies outside the file or has the wrong size (truncated?)")
    return np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
