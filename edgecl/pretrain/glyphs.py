"""Synthetic stroke images for backbone pre-training ("glyphs"): no digits, no downloads.

Why: InfLoRA only adapts K/V of a frozen backbone, so the backbone's features decide what the
continual learner can reach. Supervised pre-training on a handful of natural classes (MNIST or
Fashion-MNIST) does not transfer to unseen classes at 28 px; what transfers to handwritten strokes
is discriminating *many* stroke shapes. This module makes an unlimited, deterministic supply of them:

* **font classes**: printable ASCII letters and symbols rendered with Pillow's built-in scalable
  font (``ImageFont.load_default(size=...)``, Aileron; needs Pillow with FreeType, no font
  package). Digits are excluded, and so are the glyphs that are a digit in most fonts
  (``O o l I |``), so a stream of digits is never seen in pre-training.
* **stroke classes**: each class is a random prototype of 1-3 cubic Bezier strokes / polylines;
  every sample jitters the control points, so a class is a "shape family" like a hand-written
  character.

Every image is normalised the way MNIST was built (glyph fitted into a 20x20 box, anti-aliased,
pasted into 28x28 with its centre of mass at the centre; white strokes on black). A *bank* of
pre-rendered variants is made once with Pillow (seconds) and :class:`GlyphAugment` adds cheap,
batched torch augmentation (affine, elastic, thickness, blur) per training step.
"""
from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

#: characters that look like a digit in most fonts; excluded so no digit shape is pre-trained on
DIGIT_LOOKALIKES = set("0123456789OolI|")
FONT_CHARS: str = "".join(
    c for c in string.ascii_letters + string.punctuation if c not in DIGIT_LOOKALIKES
)
_HI = 112  # hi-res canvas for rendering strokes before the MNIST-style reduction


@dataclass(frozen=True)
class GlyphBank:
    """Pre-rendered variants: ``images`` uint8 (C, V, 28, 28), class ``names`` (len C)."""

    images: torch.Tensor
    names: list[str]

    @property
    def num_classes(self) -> int:
        return self.images.shape[0]


def mnist_normalise(img: Image.Image, box: int = 20) -> np.ndarray:
    """Crop to ink, fit the longer side into ``box`` px, centre by mass in 28x28 (as MNIST was made)."""
    bbox = img.getbbox()
    out = np.zeros((28, 28), dtype=np.float32)
    if bbox is None:
        return out.astype(np.uint8)
    crop = img.crop(bbox)
    w, h = crop.size
    s = box / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = np.asarray(crop.resize((nw, nh), Image.Resampling.LANCZOS), dtype=np.float32).clip(0, 255)
    tot = small.sum()
    ys, xs = np.mgrid[0:nh, 0:nw]
    cy, cx = (ys * small).sum() / tot, (xs * small).sum() / tot
    oy, ox = int(round(14 - cy)), int(round(14 - cx))
    oy, ox = min(max(oy, 0), 28 - nh), min(max(ox, 0), 28 - nw)
    out[oy : oy + nh, ox : ox + nw] = small
    return out.clip(0, 255).astype(np.uint8)


def _bezier(p: np.ndarray, n: int = 24) -> np.ndarray:
    """Points on the cubic Bezier curve with control points ``p`` (4, 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return ((1 - t) ** 3) * p[0] + 3 * ((1 - t) ** 2) * t * p[1] + 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]


def _stroke_prototype(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """One stroke class: 1-3 strokes, each a cubic Bezier or a 2-4 point polyline, in [0, 1]^2."""
    strokes = []
    n = int(rng.choice([1, 1, 2, 2, 3]))
    for _ in range(n):
        if rng.random() < 0.7:
            strokes.append(("bezier", rng.uniform(0.0, 1.0, size=(4, 2))))
        else:
            strokes.append(("poly", rng.uniform(0.0, 1.0, size=(int(rng.integers(2, 5)), 2))))
    return strokes


def _render_strokes(proto: list[tuple[str, np.ndarray]], rng: np.random.Generator) -> Image.Image:
    """Render one jittered sample of a stroke prototype on the hi-res canvas."""
    img = Image.new("L", (_HI, _HI), 0)
    draw = ImageDraw.Draw(img)
    width = int(rng.integers(6, 15))
    for kind, pts in proto:
        q = pts + rng.normal(0.0, 0.045, size=pts.shape)
        xy = _bezier(q) if kind == "bezier" else q
        xy = 8 + xy * (_HI - 16)
        draw.line([tuple(map(float, v)) for v in xy], fill=255, width=width, joint="curve")
        r = width / 2  # round caps, like a pen
        for v in (xy[0], xy[-1]):
            draw.ellipse([v[0] - r, v[1] - r, v[0] + r, v[1] + r], fill=255)
    return img


def _render_char(ch: str, rng: np.random.Generator, fonts: dict[int, ImageFont.FreeTypeFont]) -> Image.Image:
    """Render ``ch`` with the built-in font at a random size and stroke (bold) width."""
    size = int(rng.choice(sorted(fonts)))
    img = Image.new("L", (_HI + 32, _HI + 32), 0)
    ImageDraw.Draw(img).text((16, 8), ch, font=fonts[size], fill=255, stroke_width=int(rng.integers(0, 5)), stroke_fill=255)
    return img


def make_bank(num_stroke_classes: int = 400, variants: int = 24, seed: int = 0, font_chars: str = FONT_CHARS) -> GlyphBank:
    """Render ``variants`` samples of every class (font characters first, then stroke classes).

    Deterministic for a seed (numpy Generator + Pillow's built-in font).
    """
    rng = np.random.default_rng(seed)
    fonts = {s: ImageFont.load_default(size=s) for s in (64, 80, 96)}
    names: list[str] = []
    rows: list[np.ndarray] = []
    for ch in font_chars:
        names.append(f"char:{ch}")
        rows.append(np.stack([mnist_normalise(_render_char(ch, rng, fonts)) for _ in range(variants)]))
    for k in range(num_stroke_classes):
        proto = _stroke_prototype(rng)
        names.append(f"stroke:{k}")
        rows.append(np.stack([mnist_normalise(_render_strokes(proto, rng)) for _ in range(variants)]))
    return GlyphBank(torch.from_numpy(np.stack(rows)), names)


class GlyphAugment:
    """Batched, seeded augmentation on [0, 1] images (N, 1, 28, 28).

    Random affine (rotation, shear, anisotropic scale, shift), a smooth elastic warp, random
    thickening/thinning (grey dilation/erosion) and blur: the hand-writing variation a frozen
    backbone must be invariant to. All ops are ``grid_sample``/pooling, so a batch costs far less
    than a forward pass.
    """

    def __init__(self, rot_deg: float = 18.0, shear: float = 0.35, scale: tuple[float, float] = (0.8, 1.15),
                 shift: float = 0.12, elastic: float = 0.08, p_thick: float = 0.3, p_thin: float = 0.15,
                 p_blur: float = 0.2) -> None:
        self.rot, self.shear, self.scale, self.shift = np.deg2rad(rot_deg), shear, scale, shift
        self.elastic, self.p_thick, self.p_thin, self.p_blur = elastic, p_thick, p_thin, p_blur

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = x.shape[0]

        def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(n, *shape, generator=gen)

        a, sh = u(-self.rot, self.rot), u(-self.shear, self.shear)
        sx, sy = u(*self.scale), u(*self.scale)
        cos, sin = torch.cos(a), torch.sin(a)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = cos / sx, (-sin + sh) / sx
        theta[:, 1, 0], theta[:, 1, 1] = sin / sy, cos / sy
        theta[:, :, 2] = u(-self.shift, self.shift, 2)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        if self.elastic > 0:
            d = torch.randn(n, 2, 4, 4, generator=gen) * self.elastic
            d = F.interpolate(d, size=x.shape[-2:], mode="bicubic", align_corners=False)
            grid = grid + d.permute(0, 2, 3, 1)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        r = torch.rand(n, generator=gen).view(n, 1, 1, 1)
        thick = F.max_pool2d(x, 3, 1, 1) * 0.5 + x * 0.5
        thin = -F.max_pool2d(-x, 2, 1, 0)
        thin = F.pad(thin, (0, 1, 0, 1)) * 0.7 + x * 0.3
        x = torch.where(r < self.p_thick, thick, torch.where(r < self.p_thick + self.p_thin, thin, x))
        if self.p_blur > 0:
            k = torch.tensor([0.25, 0.5, 0.25])
            k2 = (k[:, None] * k[None, :]).view(1, 1, 3, 3)
            blurred = F.conv2d(x, k2, padding=1)
            x = torch.where(torch.rand(n, generator=gen).view(n, 1, 1, 1) < self.p_blur, blurred, x)
        return x.clamp_(0.0, 1.0)


def sample_batch(bank: GlyphBank, batch_size: int, gen: torch.Generator,
                 augment: GlyphAugment | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform class, uniform variant, then augmentation: ``(images [0,1] (B,1,28,28), labels)``."""
    c, v = bank.images.shape[:2]
    y = torch.randint(0, c, (batch_size,), generator=gen)
    j = torch.randint(0, v, (batch_size,), generator=gen)
    x = bank.images[y, j].unsqueeze(1).float().div_(255.0)
    if augment is not None:
        x = augment(x, gen)
    return x, y
