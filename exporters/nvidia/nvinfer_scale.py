"""The scaling DeepStream's nvinfer applies before the network, reproduced in numpy.

nvinfer scales the whole frame or object straight to the network size with
``NvBufSurfTransform``; its filter is the config's ``scaling-filter`` (DeepStream's Gst-nvinfer
documentation: 0 = ``NvBufSurfTransformInter_Default``, which is GPU-Nearest / VIC-Nearest;
1 = bilinear) and none of them antialiases, unlike PIL's bilinear resize (which averages over the
whole footprint when it shrinks).  edgecl writes ``scaling-filter=1`` into every config and
measures the accuracy with :func:`scale` ``"bilinear"``; ``"nearest"`` is measured too, so the cost
of the default filter is known.  Both use the half-pixel-centre convention (pixel centres at
``i + 0.5``) of CUDA/NPP resize kernels; the device check list compares them with the real
transform on an Orin.
"""
from __future__ import annotations

import numpy as np

FILTERS = ("bilinear", "nearest")
SCALING_FILTER = {"nearest": 0, "bilinear": 1}  # nvinfer scaling-filter values (0 = default = nearest)


def _coords(n_out: int, n_in: int) -> np.ndarray:
    """Source coordinate of each output pixel centre (half-pixel convention)."""
    return (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5


def scale(image: np.ndarray, size: int, filter: str = "bilinear") -> np.ndarray:
    """``image`` (H, W) or (H, W, C) uint8 scaled to ``size x size`` as float32 in [0, 255]."""
    if filter not in FILTERS:
        raise ValueError(f"unknown nvinfer filter {filter!r}; use one of {', '.join(FILTERS)}")
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape[:2]
    ys, xs = _coords(size, h), _coords(size, w)
    if filter == "nearest":
        yi = np.clip(np.floor(ys + 0.5).astype(np.int64), 0, h - 1)
        xi = np.clip(np.floor(xs + 0.5).astype(np.int64), 0, w - 1)
        return img[yi][:, xi]
    ys, xs = np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0).astype(np.float32), (xs - x0).astype(np.float32)
    if img.ndim == 3:
        wy, wx = wy[:, None, None], wx[None, :, None]
    else:
        wy, wx = wy[:, None], wx[None, :]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def nvinfer_input(image: np.ndarray, size: int, filter: str = "bilinear") -> np.ndarray:
    """What the network gets: scaled pixels times ``net-scale-factor`` 1/255, as float32 CHW.

    nvinfer converts the scaled frame to the network's colour format at 8 bits, so the scaled
    values are rounded to integers before the 1/255 scale.
    """
    out = np.clip(np.rint(scale(image, size, filter)), 0, 255) / np.float32(255.0)
    out = out.astype(np.float32)
    return out[None] if out.ndim == 2 else out.transpose(2, 0, 1)


__all__ = ["FILTERS", "SCALING_FILTER", "scale", "nvinfer_input"]
