"""The single evaluation preprocessing shared by trainer and device (numpy + PIL only).

Pipeline for one image, driven by the input spec (see docs/CONTRACTS.md):

1. colour: convert the image to ``spec["color"]`` ("L" or "RGB") with :func:`to_color`;
2. geometry: if ``spec["resize"]`` is an int, scale so the shorter side equals it
   (PIL bilinear; the longer side becomes ``floor(resize * long / short)``), then
   centre-crop ``crop x crop`` with offset ``round((size - crop) / 2)``; if ``resize``
   is null and the image is not ``crop x crop``, resize straight to ``crop x crop``;
3. value: ``x = uint8 / 255`` as float32, laid out (C, H, W).

Colour conversion rules (fixed so every producer agrees bit for bit):

* ``1`` -> L (0/255); ``P``/``PA`` -> RGBA first; ``RGBA``/``LA``/``RGBa``/``La``
  are composited on black (``c * a / 255``, PIL ``alpha_composite``);
* ``I;16*``, ``I`` and ``F`` are read as 16-bit intensities: clipped to [0, 65535]
  and mapped to 8 bit by ``round(v * 255 / 65535)``;
* ``CMYK``, ``YCbCr``, ``HSV``, ``RGBX`` use PIL's own conversion to RGB;
* RGB -> L uses PIL's ITU-R 601-2 luma; L -> RGB replicates the channel.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

COLORS = ("L", "RGB")
_ALPHA_MODES = {"RGBA", "LA", "RGBa", "La", "P", "PA"}
_WIDE_MODES = {"I", "F"}  # plus every "I;16..." variant


def input_spec(color: str, size: int, resize: int | None = None) -> dict[str, Any]:
    """Build the input spec dict (``input`` in manifest.json / run.json)."""
    spec = {
        "name": "input",
        "shape": [-1, 1 if color == "L" else 3, size, size],
        "dtype": "float32",
        "layout": "NCHW",
        "value_range": [0.0, 1.0],
        "color": color,
        "resize": resize,
        "crop": size,
        "interpolation": "bilinear",
    }
    check_spec(spec)
    return spec


def check_spec(spec: dict[str, Any]) -> None:
    """Raise ValueError (one line) if ``spec`` is not a usable input spec."""
    color, crop, resize = spec.get("color"), spec.get("crop"), spec.get("resize")
    if color not in COLORS:
        raise ValueError(f"input spec color {color!r} is not supported; use 'L' or 'RGB'")
    if not isinstance(crop, int) or isinstance(crop, bool) or crop <= 0:
        raise ValueError(f"input spec crop {crop!r} must be a positive int (the model's image size)")
    if resize is not None and (not isinstance(resize, int) or isinstance(resize, bool) or resize < crop):
        raise ValueError(f"input spec resize {resize!r} must be null or an int >= crop ({crop})")
    if spec.get("interpolation", "bilinear") != "bilinear":
        raise ValueError(f"input spec interpolation {spec.get('interpolation')!r} unsupported; use 'bilinear'")


def _wide_to_l(img: Image.Image) -> Image.Image:
    """16-bit / int32 / float image -> 8-bit L: clip to [0, 65535], round(v * 255 / 65535)."""
    a = np.asarray(img)
    if a.dtype.kind == "f":
        a = np.nan_to_num(a.astype(np.float64), nan=0.0)
        v = np.clip(np.rint(a), 0, 65535).astype(np.int64)
    else:
        v = np.clip(a.astype(np.int64), 0, 65535)
    return Image.fromarray(((v * 255 + 32767) // 65535).astype(np.uint8))


def _drop_alpha(img: Image.Image) -> Image.Image:
    """Composite an image with alpha (or a palette with transparency) on black -> RGB."""
    rgba = img.convert("RGBA")
    black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(black, rgba).convert("RGB")


def to_color(img: Image.Image, color: str) -> Image.Image:
    """Convert any PIL image to mode ``color`` ("L" or "RGB") by the module's fixed rules."""
    if color not in COLORS:
        raise ValueError(f"color {color!r} is not supported; use 'L' or 'RGB'")
    mode = img.mode
    if mode == color:
        return img
    if mode.startswith("I;16") or mode in _WIDE_MODES:
        gray = _wide_to_l(img)
        return gray if color == "L" else gray.convert("RGB")
    if mode == "1":
        gray = img.convert("L")
        return gray if color == "L" else gray.convert("RGB")
    if mode in _ALPHA_MODES:
        rgb = _drop_alpha(img)
    elif mode in ("L", "RGB"):
        rgb = img
    else:
        try:
            rgb = img.convert("RGB")
        except (ValueError, OSError) as exc:
            raise ValueError(f"image mode {mode!r} cannot be converted to {color}: {exc}") from None
    return rgb.convert(color) if rgb.mode != color else rgb


def _resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """Scale so the shorter side is ``size``; longer side = floor(size * long / short)."""
    w, h = img.size
    if w <= h:
        new = (size, (size * h) // w)
    else:
        new = ((size * w) // h, size)
    return img if new == (w, h) else img.resize(new, Image.BILINEAR)


def _center_crop(img: Image.Image, crop: int) -> Image.Image:
    """Centre crop ``crop x crop``; offset round((size - crop) / 2) as torchvision does."""
    w, h = img.size
    if (w, h) == (crop, crop):
        return img
    left = int(round((w - crop) / 2.0))
    top = int(round((h - crop) / 2.0))
    return img.crop((left, top, left + crop, top + crop))


def geometry(img: Image.Image, spec: dict[str, Any]) -> Image.Image:
    """Apply the spec's resize / centre-crop to an already colour-converted image."""
    crop, resize = spec["crop"], spec.get("resize")
    if resize is not None:
        return _center_crop(_resize_shorter(img, resize), crop)
    if img.size != (crop, crop):
        return img.resize((crop, crop), Image.BILINEAR)
    return img


def _to_chw(a: np.ndarray) -> np.ndarray:
    """uint8 (H,W) or (H,W,3) -> float32 (C,H,W) = value / 255."""
    x = a.astype(np.float32) / np.float32(255.0)
    return x[None] if x.ndim == 2 else np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess(img: Image.Image, spec: dict[str, Any]) -> np.ndarray:
    """Preprocess one PIL image to a float32 (C, H, W) array in [0, 1] per ``spec``."""
    if not isinstance(img, Image.Image):
        raise ValueError(f"preprocess expects a PIL.Image.Image, got {type(img).__name__}")
    check_spec(spec)
    img.load()
    out = geometry(to_color(img, spec["color"]), spec)
    return _to_chw(np.asarray(out, dtype=np.uint8))


def _is_identity_geometry(height: int, width: int, spec: dict[str, Any]) -> bool:
    """True when the spec's resize/crop leave an image of this size untouched."""
    crop, resize = spec["crop"], spec.get("resize")
    return height == width == crop and (resize is None or resize == crop)


def preprocess_array(batch: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Vectorised :func:`preprocess` for a uint8 batch (N,H,W) "L" or (N,H,W,3) "RGB".

    Fast path (pure numpy) when the geometry is the identity and the colour is the
    spec's or L -> RGB (channel replication, exactly what PIL does); any other case
    falls back to :func:`preprocess` per image, so the result always equals it.
    """
    check_spec(spec)
    b = np.asarray(batch)
    if b.dtype != np.uint8 or b.ndim not in (3, 4) or (b.ndim == 4 and b.shape[3] != 3):
        raise ValueError(
            f"preprocess_array expects uint8 (N,H,W) or (N,H,W,3), got {b.dtype} {b.shape}; convert images first"
        )
    src_color = "L" if b.ndim == 3 else "RGB"
    fast = _is_identity_geometry(b.shape[1], b.shape[2], spec) and (src_color == spec["color"] or src_color == "L")
    if not fast:
        out = np.empty((len(b), *spec_chw(spec)), np.float32)
        for i, a in enumerate(b):
            out[i] = preprocess(Image.fromarray(a), spec)
        return out
    x = b.astype(np.float32) / np.float32(255.0)
    if src_color == "L":
        x = x[:, None]
        return np.ascontiguousarray(np.repeat(x, 3, axis=1)) if spec["color"] == "RGB" else x
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def spec_chw(spec: dict[str, Any]) -> tuple[int, int, int]:
    """(C, H, W) of the model input described by ``spec``."""
    return (1 if spec["color"] == "L" else 3, spec["crop"], spec["crop"])
