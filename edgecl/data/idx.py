"""Read and write IDX files (the MNIST / Fashion-MNIST container format).

Layout (all integers big-endian):

    bytes 0-1  zero
    byte  2    element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
               0x0D float32, 0x0E float64
    byte  3    number of dimensions d
    4*d bytes  the size of each dimension (uint32)
    payload    prod(sizes) elements, C order

Files may be gzip-compressed; this is detected from the gzip magic bytes, not
from the file name, so ``foo-idx3-ubyte`` renamed without ``.gz`` still loads.
"""
from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from edgecl.errors import DataError, DataMissing

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES: dict[str, int] = {np.dtype(v).newbyteorder("=").str[1:]: k for k, v in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Return the decompressed content of ``path`` (gzip or plain)."""
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc}); re-download the file") from None
    return raw


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into a native-endian array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{source}: not an IDX file (bad magic number); pass an MNIST-style *-idx?-ubyte file")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise DataError(f"{source}: unknown IDX element type 0x{code:02x}; file is corrupt or not IDX")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated IDX header; re-download the file")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{source}: IDX payload is {len(data) - header} bytes, header says {expected}; file is truncated or corrupt"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Load an IDX file (``.gz`` or plain) as a native-endian numpy array.

    MNIST images come back as uint8 (N, 28, 28), labels as uint8 (N,).
    """
    p = Path(path)
    if not p.is_file():
        raise DataMissing(f"IDX file not found: {p}")
    return parse_idx(_read_bytes(p), str(p))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip it when ``compress`` (default: name ends in .gz)."""
    arr = np.ascontiguousarray(array)
    key = arr.dtype.newbyteorder("=").str[1:]
    if key not in _CODES:
        raise DataError(f"dtype {arr.dtype} cannot be stored in IDX; use uint8, int8, int16, int32, float32 or float64")
    code = _CODES[key]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + arr.astype(_DTYPES[code], copy=False).tobytes()
    p = Path(path)
    if compress if compress is not None else p.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    p.write_bytes(payload)
