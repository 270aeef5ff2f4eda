"""IDX reader: hand-made files, gzip detection and error messages."""
import gzip
import struct

import numpy as np
import pytest

from edgecl.data.idx import parse_idx, read_idx, write_idx


def _hand_made(shape, code, payload: bytes) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_reads_hand_made_uint8_file(tmp_path):
    # 2 images of 2x3, bytes written by hand (not by write_idx)
    pixels = bytes(range(12))
    path = tmp_path / "imgs-idx3-ubyte"
    path.write_bytes(_hand_made((2, 2, 3), 0x08, pixels))
    arr = read_idx(path)
    assert arr.dtype == np.uint8 and arr.shape == (2, 2, 3)
    assert arr[1, 0, 2] == 8 and arr[0, 1, 0] == 3


def test_big_endian_int32_and_gzip_detected_by_content(tmp_path):
    values = [1, -2, 70000]
    raw = _hand_made((3,), 0x0C, struct.pack(">3i", *values))
    path = tmp_path / "labels-no-gz-suffix"
    path.write_bytes(gzip.compress(raw))
    arr = read_idx(path)
    assert arr.dtype == np.int32 and arr.tolist() == values


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path, dtype, name):
    a = (np.arange(60).reshape(3, 4, 5) * 3 - 7).astype(dtype)
    write_idx(tmp_path / name, a)
    b = read_idx(tmp_path / name)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    assert ((tmp_path / name).read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


def test_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_idx(tmp_path / "missing")
    with pytest.raises(ValueError, match="bad magic"):
        parse_idx(b"\x89PNG....")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        parse_idx(_hand_made((2, 2), 0x08, b"\x00\x01\x02"))
    with pytest.raises(ValueError, match="unknown IDX element type"):
        parse_idx(_hand_made((1,), 0x42, b"\x00"))
