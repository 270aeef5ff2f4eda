"""The centre crop of the shared preprocessing, pinned on both axes.

The contract (``inputs/preprocess.py``, docs/CONTRACTS.md): after the shorter-side resize the crop
offset is ``round((size - crop) / 2)`` on each axis, as torchvision's ``CenterCrop`` computes it.
Each pixel below holds its own row or column index, so the expected crop is known exactly; a size
difference of 3 makes ``round`` (2) differ from ``floor`` (1) and from a corner crop (0).
"""
import numpy as np
from PIL import Image

from edgecl_runtime.inputs.preprocess import input_spec, preprocess


def _index_image(width: int, height: int, axis: int) -> Image.Image:
    """An L image whose pixel value is its row (axis 0) or column (axis 1) index."""
    rows, cols = np.indices((height, width))
    return Image.fromarray((rows if axis == 0 else cols).astype(np.uint8))


def test_a_portrait_image_is_cropped_at_round_half_the_excess_rows():
    # 28 x 31: the shorter side is already 28 (no resize); 3 rows over, offset round(1.5) = 2
    x = preprocess(_index_image(28, 31, axis=0), input_spec("L", 28, resize=28))[0]
    assert x.shape == (28, 28)
    np.testing.assert_array_equal(x[:, 0] * 255, np.arange(2, 30, dtype=np.float32))


def test_a_landscape_image_is_cropped_at_round_half_the_excess_columns():
    x = preprocess(_index_image(31, 28, axis=1), input_spec("L", 28, resize=28))[0]
    np.testing.assert_array_equal(x[0] * 255, np.arange(2, 30, dtype=np.float32))


def test_an_even_excess_is_split_evenly_on_both_axes():
    x = preprocess(_index_image(28, 32, axis=0), input_spec("L", 28, resize=28))[0]
    np.testing.assert_array_equal(x[:, 0] * 255, np.arange(2, 30, dtype=np.float32))
