"""a decompression bomb is one line naming the limit and how to raise it.

The limit is ``EDGECL_RT_MAX_PIXELS`` (default 64 MP), and it is the only one: Pillow's own guard
(``Image.MAX_IMAGE_PIXELS``, about 89 MP) is set to it while an image is decoded, so the variable
can raise the limit above Pillow's default, and Pillow's global is left as it was.
"""
from __future__ import annotations

import pytest
from PIL import Image

from edgecl_runtime.cli import app
from edgecl_runtime.errors import ImageError
from edgecl_runtime.inputs.images import DEFAULT_MAX_PIXELS, open_image
from tests.runtime.inputs.test_images import _png_claiming
from tests.runtime.rt_cli import one_error, runner

ABOVE_PILLOW = (10_000, 9_000)  # 90 MP: over Pillow's default 89.5 MP, over our 64 MP


def test_bomb_names_the_limit_and_how_to_raise_it(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    _png_claiming(tmp_path / "bomb.png", 20_000, 20_000)
    with pytest.raises(ImageError) as info:
        open_image(tmp_path / "bomb.png")
    msg = str(info.value)
    assert "bomb.png" in msg and f"limit {DEFAULT_MAX_PIXELS}" in msg and "EDGECL_RT_MAX_PIXELS" in msg
    assert "\n" not in msg and Image.MAX_IMAGE_PIXELS == before


def test_bomb_in_predict_is_one_line(tmp_path, bundle_template):
    _png_claiming(tmp_path / "bomb.png", 20_000, 20_000)
    res = runner.invoke(app, ["predict", str(bundle_template), str(tmp_path / "bomb.png")])
    line = one_error(res.stderr.replace("edgecl-rt: error: no image could be classified\n", ""))
    assert res.exit_code == 1 and "bomb.png" in line and "EDGECL_RT_MAX_PIXELS" in line


def test_env_raises_the_limit_above_pillows_own(tmp_path, monkeypatch):
    before = Image.MAX_IMAGE_PIXELS
    assert ABOVE_PILLOW[0] * ABOVE_PILLOW[1] > before
    Image.new("1", ABOVE_PILLOW).save(tmp_path / "large.png")  # a real image, 1 bit per pixel
    with pytest.raises(ImageError, match=r"90000000 pixels > limit 64000000"):
        open_image(tmp_path / "large.png")
    monkeypatch.setenv("EDGECL_RT_MAX_PIXELS", "100000000")
    assert open_image(tmp_path / "large.png").size == ABOVE_PILLOW
    assert Image.MAX_IMAGE_PIXELS == before


def test_env_limit_still_refuses_bigger_claims(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECL_RT_MAX_PIXELS", "100000000")
    _png_claiming(tmp_path / "bomb.png", 20_000, 20_000)
    with pytest.raises(ImageError, match=r"limit 100000000\).*raise EDGECL_RT_MAX_PIXELS"):
        open_image(tmp_path / "bomb.png")


@pytest.mark.parametrize("value", ["lots", "-5", "0", "1e9"])
def test_bad_env_value_is_one_line(tmp_path, monkeypatch, value):
    Image.new("L", (4, 4)).save(tmp_path / "a.png")
    monkeypatch.setenv("EDGECL_RT_MAX_PIXELS", value)
    with pytest.raises(ImageError, match=r"EDGECL_RT_MAX_PIXELS=.* is not a positive integer"):
        open_image(tmp_path / "a.png")
