"""The one eval preprocessing (edgecl_runtime.inputs.preprocess): modes, geometry, fast path."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from edgecl_runtime.inputs.preprocess import input_spec, preprocess, preprocess_array

RNG = np.random.default_rng(0)


def _check(x, c, size):
    assert x.dtype == np.float32 and x.shape == (c, size, size)
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_spec_shape_and_validation():
    s = input_spec("RGB", 224, resize=256)
    assert s["shape"] == [-1, 3, 224, 224] and s["crop"] == 224 and s["resize"] == 256
    assert input_spec("L", 28)["shape"] == [-1, 1, 28, 28]
    for bad in [("BGR", 28, None), ("L", 0, None), ("L", 28, 20), ("L", 28.0, None)]:
        with pytest.raises(ValueError):
            input_spec(*bad)


@pytest.mark.parametrize("color", ["L", "RGB"])
def test_modes_shape_and_range(color):
    c = 1 if color == "L" else 3
    gray16 = (np.arange(28 * 28).reshape(28, 28) * 83).astype(np.uint16)
    imgs = [
        Image.fromarray(RNG.integers(0, 256, (28, 28), dtype=np.uint8)),
        Image.fromarray(RNG.integers(0, 256, (28, 28, 3), dtype=np.uint8)),
        Image.fromarray(RNG.integers(0, 256, (28, 28, 4), dtype=np.uint8)),
        Image.fromarray(RNG.integers(0, 256, (28, 28, 3), dtype=np.uint8)).convert("P"),
        Image.fromarray(gray16),
        Image.fromarray(RNG.integers(0, 256, (28, 28), dtype=np.uint8)).convert("1"),
        Image.new("LA", (28, 28), (200, 128)),
        Image.new("CMYK", (28, 28), (10, 20, 30, 40)),
        Image.fromarray(gray16.astype(np.int32)),
        Image.fromarray(gray16.astype(np.float32)),
    ]
    assert [im.mode for im in imgs] == ["L", "RGB", "RGBA", "P", "I;16", "1", "LA", "CMYK", "I", "F"]
    for im in imgs:
        _check(preprocess(im, input_spec(color, 28)), c, 28)


def test_l_values_are_uint8_over_255():
    a = RNG.integers(0, 256, (28, 28), dtype=np.uint8)
    x = preprocess(Image.fromarray(a), input_spec("L", 28))
    np.testing.assert_array_equal(x[0], a.astype(np.float32) / np.float32(255))
    rgb = preprocess(Image.fromarray(a), input_spec("RGB", 28))
    assert all(np.array_equal(rgb[k], x[0]) for k in range(3))


def test_rgba_composited_on_black():
    x = preprocess(Image.new("RGBA", (28, 28), (200, 100, 50, 128)), input_spec("RGB", 28))
    expected = np.array([200, 100, 50]) * 128 / 255 / 255
    np.testing.assert_allclose(x[:, 0, 0], expected, atol=1 / 255 + 1e-6)
    opaque = preprocess(Image.new("RGBA", (28, 28), (200, 100, 50, 255)), input_spec("RGB", 28))
    np.testing.assert_array_equal(opaque[:, 5, 5] * 255, [200, 100, 50])
    assert preprocess(Image.new("LA", (28, 28), (200, 0)), input_spec("L", 28)).max() == 0.0


def test_palette_matches_its_rgb_and_transparency_is_black():
    im = Image.new("P", (28, 28), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    red = Image.new("RGB", (28, 28), (255, 0, 0))
    for color in ("L", "RGB"):
        np.testing.assert_array_equal(preprocess(im, input_spec(color, 28)), preprocess(red, input_spec(color, 28)))
    im.info["transparency"] = 1
    assert preprocess(im, input_spec("RGB", 28)).max() == 0.0


def test_16bit_scaled_to_8bit_and_mode_1():
    a = np.array([[0, 256, 32768, 65535]], np.uint16).repeat(4, 0)
    x = preprocess(Image.fromarray(a), input_spec("L", 4))
    np.testing.assert_array_equal(x[0, 0] * 255, [0, 1, 128, 255])
    one = Image.fromarray(np.eye(4, dtype=bool))
    assert one.mode == "1"
    np.testing.assert_array_equal(preprocess(one, input_spec("L", 4))[0], np.eye(4, dtype=np.float32))


def _halves(w, h):
    a = np.zeros((h, w), np.uint8)
    a[:, w // 2:] = 255
    return Image.fromarray(a)


def test_resize_shorter_side_then_centre_crop():
    # 60x30 image, resize=30 keeps it (short side already 30); centre crop 30 -> columns 15..44
    x = preprocess(_halves(60, 30), input_spec("L", 30, resize=30))[0]
    assert x.shape == (30, 30)
    assert (x[:, :15] == 0).all() and (x[:, 15:] == 1).all()
    # 40x20 -> shorter side 28 -> 56x28 -> crop 28 at left 14: same as resizing then cropping by hand
    im = Image.fromarray(RNG.integers(0, 256, (20, 40), dtype=np.uint8))
    ref = np.asarray(im.resize((56, 28), Image.BILINEAR).crop((14, 0, 42, 28)), np.float32) / 255
    np.testing.assert_array_equal(preprocess(im, input_spec("L", 28, resize=28))[0], ref)
    # portrait: crop is vertical
    y = preprocess(_halves(30, 60).transpose(Image.Transpose.ROTATE_90), input_spec("L", 30, resize=30))[0]
    assert y.shape == (30, 30) and (y[:15] == 1).all() and (y[15:] == 0).all()


def test_no_resize_squashes_to_crop():
    x = preprocess(_halves(60, 30), input_spec("L", 28))[0]
    assert x.shape == (28, 28)
    assert (x[:, :13] == 0).all() and (x[:, 15:] == 1).all()
    assert np.unique(preprocess(Image.new("L", (56, 56), 77), input_spec("L", 28))).tolist() == [np.float32(77 / 255)]


@pytest.mark.parametrize("shape, color, resize", [
    ((9, 28, 28), "L", None), ((9, 28, 28), "RGB", None), ((9, 28, 28, 3), "RGB", None),
    ((9, 28, 28, 3), "L", None), ((9, 28, 28), "L", 32), ((5, 32, 32, 3), "RGB", 36),
    ((5, 32, 32), "L", None),
])
def test_vectorised_equals_per_image(shape, color, resize):
    batch = RNG.integers(0, 256, shape, dtype=np.uint8)
    spec = input_spec(color, 28, resize=resize)
    fast = preprocess_array(batch, spec)
    slow = np.stack([preprocess(Image.fromarray(a), spec) for a in batch])
    assert fast.dtype == np.float32 and fast.shape == slow.shape == (shape[0], 1 if color == "L" else 3, 28, 28)
    assert np.array_equal(fast, slow)


def test_bad_inputs():
    with pytest.raises(ValueError, match="uint8"):
        preprocess_array(np.zeros((2, 28, 28), np.float32), input_spec("L", 28))
    with pytest.raises(ValueError, match="PIL"):
        preprocess(np.zeros((28, 28), np.uint8), input_spec("L", 28))


def test_module_is_torch_free():
    code = "import sys, edgecl_runtime.inputs.preprocess; assert 'torch' not in sys.modules and 'edgecl' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
