"""Robust image opening: each bad item is one line naming it; directories expand."""
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from edgecl_runtime.errors import ImageError
from edgecl_runtime.inputs.images import expand_inputs, open_image


def _png_claiming(path, width, height):
    """A valid 1x1 PNG whose IHDR (CRC fixed) claims width x height: a decompression bomb."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(data))
    return path


def test_good_image_opens(tmp_path):
    Image.new("RGB", (5, 7), (1, 2, 3)).save(tmp_path / "a.png")
    img = open_image(tmp_path / "a.png")
    assert img.size == (5, 7) and img.getpixel((0, 0)) == (1, 2, 3)


def test_zero_byte(tmp_path):
    (tmp_path / "z.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"z\.png: empty file"):
        open_image(tmp_path / "z.png")


def test_non_image(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageError, match=r"notes\.txt: not an image"):
        open_image(tmp_path / "notes.txt")


def test_truncated(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"t\.png: truncated or corrupt"):
        open_image(tmp_path / "t.png")


def test_huge_image_refused_before_decoding(tmp_path):
    _png_claiming(tmp_path / "bomb.png", 100_000, 100_000)  # PIL's own bomb error, reworded
    with pytest.raises(ImageError, match=r"bomb\.png: image too large \(decompression-bomb"):
        open_image(tmp_path / "bomb.png")
    _png_claiming(tmp_path / "big.png", 9000, 9000)  # 81 MP: under PIL's, over our 64 MP
    with pytest.raises(ImageError, match=r"big\.png: image too large .*81000000 pixels > limit 64000000"):
        open_image(tmp_path / "big.png")


def test_limit_is_configurable(tmp_path, monkeypatch):
    Image.new("L", (20, 20)).save(tmp_path / "s.png")
    monkeypatch.setenv("EDGECL_RT_MAX_PIXELS", "100")
    with pytest.raises(ImageError, match="too large"):
        open_image(tmp_path / "s.png")


def test_missing_path_and_dir_expansion(tmp_path):
    d = tmp_path / "mixed"
    (d / "sub").mkdir(parents=True)
    Image.new("L", (3, 3)).save(d / "b.png")
    Image.new("L", (3, 3)).save(d / "sub" / "c.png")
    (d / "a.txt").write_text("x")
    (d / ".hidden").write_text("x")
    (tmp_path / "empty").mkdir()
    items = expand_inputs([d, tmp_path / "missing.png", tmp_path / "empty"])
    assert [i.path.name for i in items if i.path] == ["a.txt", "b.png", "c.png"]
    errors = [i.error for i in items if i.error]
    assert any("missing.png: no such file" in e for e in errors)
    assert any("holds no files" in e for e in errors)
