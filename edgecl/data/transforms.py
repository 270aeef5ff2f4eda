"""Torch-side batch transforms: the eval transform and the named train augmentations.

* ``eval_batch``: exactly ``edgecl_runtime.inputs.preprocess`` (numpy fast path for arrays),
  so trainer and device see the same float32 inputs bit for bit.
* ``none``: the eval transform.
* ``shift``: eval transform, then a small random affine per image (digits-friendly,
  no flips): rotation U(-10, 10) degrees, scale U(0.9, 1.1), translation U(-10 %, 10 %)
  of the side on each axis; bilinear resampling, black outside the image.
* ``crop-flip``: RandomResizedCrop to ``crop`` (area fraction U(0.08, 1), log aspect
  ratio U(log 3/4, log 4/3), 10 tries then a centre crop, as torchvision) on the
  colour-converted original, plus a horizontal flip with p = 0.5 (official InfLoRA).
  Array-backed sets resample the whole batch with ``grid_sample``; file-backed sets
  (photos of mixed sizes) crop and resize each decoded image in PIL instead
  (``Image.resize(box=...)``, bilinear with antialiasing, as torchvision does on PIL
  images), on uint8 pixels: the same boxes and flips from the same draws, several times
  faster than float resampling of the full image.

All randomness is drawn from the ``torch.Generator`` passed in, in a fixed order and
a fixed amount per batch, never from the global RNG: same generator state -> same
output in any process.  Crops and affines are resampled with ``grid_sample``
(theta maps output to input in normalised coordinates, ``align_corners=False``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from edgecl_runtime.inputs.preprocess import preprocess, preprocess_array, spec_chw, to_color
from PIL import Image

from edgecl.data.imageset import ImageSet
from edgecl.errors import DataError

AUGMENTATIONS = ("none", "shift", "crop-flip")
_RRC_TRIES = 10
_RRC_SCALE = (0.08, 1.0)
_RRC_RATIO = (3.0 / 4.0, 4.0 / 3.0)


def check_augment(augment: str) -> None:
    """Raise a one-line ValueError for an unknown augmentation name."""
    if augment not in AUGMENTATIONS:
        raise DataError(f"unknown augmentation {augment!r}; choose one of: {', '.join(AUGMENTATIONS)}")


def eval_batch(imageset: ImageSet, idx: np.ndarray, spec: dict[str, Any]) -> torch.Tensor:
    """Eval-preprocessed images ``idx`` as float32 (N,C,H,W) in [0,1]."""
    if imageset.array is not None:
        return torch.from_numpy(preprocess_array(imageset.array[idx], spec))
    out = np.empty((len(idx), *spec_chw(spec)), np.float32)
    for k, i in enumerate(idx):
        out[k] = preprocess(imageset.image(int(i)), spec)
    return torch.from_numpy(out)


def _raw_images(imageset: ImageSet, idx: np.ndarray, color: str) -> list[torch.Tensor] | torch.Tensor:
    """Colour-converted originals as float [0,1]: one (N,C,h,w) tensor if all share a size."""
    arr = imageset.array
    if arr is not None and (arr.ndim == 3 or color == "RGB"):
        x = torch.from_numpy(arr[idx]).float().div_(255.0)
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
        return x.expand(-1, 3, -1, -1) if x.shape[1] != _channels(color) else x
    out = []
    for i in idx:
        a = np.array(to_color(imageset.image(int(i)), color), dtype=np.uint8)
        t = torch.from_numpy(a).float().div_(255.0)
        out.append(t[None] if t.ndim == 2 else t.permute(2, 0, 1))
    return out


def _channels(color: str) -> int:
    """Channel count of colour mode ``color``."""
    return 1 if color == "L" else 3


def _resample(x: torch.Tensor, theta: torch.Tensor, size: int, padding: str) -> torch.Tensor:
    grid = F.affine_grid(theta, [x.shape[0], x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def random_affine(x: torch.Tensor, g: torch.Generator, degrees: float = 10.0,
                  scale: tuple[float, float] = (0.9, 1.1), shift: float = 0.1) -> torch.Tensor:
    """Per-image random rotation/scale/translation of a square batch (N,C,S,S).

    theta = [[cos a / s, -sin a / s, tx], [sin a / s, cos a / s, ty]] with
    tx, ty = 2 * U(-shift, shift) (normalised coordinates span 2).
    """
    u = torch.rand(x.shape[0], 4, generator=g, dtype=torch.float64)
    a = (u[:, 0] * 2 - 1) * math.radians(degrees)
    s = scale[0] + u[:, 1] * (scale[1] - scale[0])
    t = (u[:, 2:] * 2 - 1) * (2 * shift)
    theta = torch.stack([
        torch.stack([a.cos() / s, -a.sin() / s, t[:, 0]], 1),
        torch.stack([a.sin() / s, a.cos() / s, t[:, 1]], 1),
    ], 1)
    return _resample(x, theta.to(x.dtype), x.shape[-1], "zeros")


def _crop_boxes(hw: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """RandomResizedCrop boxes (N,4) = (top, left, h, w) for image sizes ``hw`` (N,2)."""
    n = hw.shape[0]
    H, W = hw[:, :1].double(), hw[:, 1:].double()
    u = torch.rand(n, 2 * _RRC_TRIES + 2, generator=g, dtype=torch.float64)
    area = H * W * (_RRC_SCALE[0] + u[:, :_RRC_TRIES] * (_RRC_SCALE[1] - _RRC_SCALE[0]))
    lo, hi = math.log(_RRC_RATIO[0]), math.log(_RRC_RATIO[1])
    ratio = torch.exp(lo + u[:, _RRC_TRIES:2 * _RRC_TRIES] * (hi - lo))
    w, h = torch.round(torch.sqrt(area * ratio)), torch.round(torch.sqrt(area / ratio))
    ok = (w > 0) & (h > 0) & (w <= W) & (h <= H)
    first = ok.double().argmax(1, keepdim=True)
    w, h, any_ok = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0], ok.any(1)
    # fallback: the largest centred crop with the ratio clamped into range
    in_ratio = (W / H)[:, 0]
    fw = torch.where(in_ratio > _RRC_RATIO[1], torch.round(H[:, 0] * _RRC_RATIO[1]), W[:, 0])
    fh = torch.where(in_ratio < _RRC_RATIO[0], torch.round(W[:, 0] / _RRC_RATIO[0]), H[:, 0])
    w, h = torch.where(any_ok, w, fw), torch.where(any_ok, h, fh)
    top = torch.floor(u[:, -2] * (H[:, 0] - h + 1)).clamp(max=H[:, 0] - h)
    left = torch.floor(u[:, -1] * (W[:, 0] - w + 1)).clamp(max=W[:, 0] - w)
    top = torch.where(any_ok, top, torch.floor((H[:, 0] - h) / 2))
    left = torch.where(any_ok, left, torch.floor((W[:, 0] - w) / 2))
    return torch.stack([top, left, h, w], 1)


def _crop_theta(boxes: torch.Tensor, hw: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """theta mapping the output square onto each box; x-scale negated where ``flip``."""
    H, W = hw[:, 0].double(), hw[:, 1].double()
    top, left, h, w = boxes.unbind(1)
    sx = torch.where(flip, -w / W, w / W)
    zero = torch.zeros_like(sx)
    return torch.stack([
        torch.stack([sx, zero, (2 * left + w) / W - 1], 1),
        torch.stack([zero, h / H, (2 * top + h) / H - 1], 1),
    ], 1)


def random_resized_crop_flip(images: list[torch.Tensor] | torch.Tensor, size: int,
                             g: torch.Generator) -> torch.Tensor:
    """RandomResizedCrop(size) + random horizontal flip of a batch -> (N,C,size,size)."""
    n = len(images)
    hw = torch.tensor([list(t.shape[-2:]) for t in images], dtype=torch.int64)
    boxes = _crop_boxes(hw, g)
    flip = torch.rand(n, generator=g) < 0.5
    theta = _crop_theta(boxes, hw, flip).float()
    if isinstance(images, torch.Tensor):
        return _resample(images, theta, size, "border")
    return torch.cat([_resample(t[None], theta[k:k + 1], size, "border") for k, t in enumerate(images)])


def _pil_crop_flip(images: list[Image.Image], color: str, size: int, g: torch.Generator) -> torch.Tensor:
    """RandomResizedCrop(size) + flip of decoded PIL images, done in PIL -> uint8 (N,C,size,size).

    The boxes and flips come from the same draws, in the same order, as
    :func:`random_resized_crop_flip`; each box is resized with PIL's bilinear filter
    (antialiased when shrinking) after the colour conversion.
    """
    n, c = len(images), _channels(color)
    hw = torch.tensor([[im.height, im.width] for im in images], dtype=torch.int64).reshape(n, 2)
    boxes = _crop_boxes(hw, g).long().tolist()
    flips = (torch.rand(n, generator=g) < 0.5).tolist()
    out = np.empty((n, size, size, c), np.uint8)
    for k, (im, (top, left, h, w), flip) in enumerate(zip(images, boxes, flips)):
        im = to_color(im, color).resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))
        if flip:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        out[k] = np.asarray(im).reshape(size, size, c)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def train_batch_uint8(imageset: ImageSet, idx: np.ndarray, spec: dict[str, Any],
                      g: torch.Generator) -> torch.Tensor | None:
    """crop-flip of a file-backed set as uint8 (N,C,H,W) (None for array-backed sets).

    ``train_batch(..., "crop-flip", g)`` is exactly this divided by 255 in float32.
    """
    if imageset.array is not None:
        return None
    return _pil_crop_flip([imageset.image(int(i)) for i in idx], spec["color"], spec["crop"], g)


def train_batch(imageset: ImageSet, idx: np.ndarray, spec: dict[str, Any], augment: str,
                g: torch.Generator) -> torch.Tensor:
    """Training images ``idx`` with augmentation ``augment``, float32 (N,C,H,W) in [0,1]."""
    check_augment(augment)
    if augment == "none":
        return eval_batch(imageset, idx, spec)
    if augment == "shift":
        return random_affine(eval_batch(imageset, idx, spec), g)
    raw = train_batch_uint8(imageset, idx, spec, g)
    if raw is not None:
        return raw.float().div_(255.0)
    return random_resized_crop_flip(_raw_images(imageset, idx, spec["color"]), spec["crop"], g)
