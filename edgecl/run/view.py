"""What the model will see of the data: its input against the images the user hands it.

A run created on colour photos with the bundled 1-channel 28-px backbone learns from grey
thumbnails; that is a fair choice for digits and a poor one for photos, and the user must hear it
when the run is created, not after an hour of training. :func:`input_view` sets the facts side by
side (the backbone, its channels and pixels, the data's colour and typical size, sampled from a
few files for class folders) and :meth:`InputView.notices` says when colour is lost or images are
shrunk more than ``SHRINK_NOTICE`` times, naming the options that change it. The same record is
kept in run.json (``view``; runs written before it have none) and shown by the report.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import median
from typing import Any, Mapping

import numpy as np
from PIL import Image

from edgecl.data.imageset import Source

SAMPLES = 8  # files opened for a class-folder source (headers for the size, pixels for the colour)
SHRINK_NOTICE = 4  # images shrunk more than this many times get a notice
COLOUR_LEVELS = 12  # channel differences above this (0-255) make an image colour, not grey saved as RGB


@dataclass(frozen=True)
class InputView:
    """``backbone`` as messages name it; ``channels``/``pixels`` the model's input (``resize``: the
    shorter side before the centre crop, None: squashed); ``data_color`` "L" or "RGB";
    ``data_size`` the data's typical (median) width and height; ``sampled`` files looked at (0: an
    array source, whose size and colour are exact)."""

    backbone: str
    channels: int
    pixels: int
    resize: int | None
    data_color: str
    data_size: tuple[int, int]
    sampled: int = 0

    @property
    def shrink(self) -> float:
        """How many times the data's shorter side is reduced to reach the model's input."""
        return min(self.data_size) / float(self.resize or self.pixels)

    def line(self) -> str:
        """One line: the backbone and its input, the data's colour and typical size."""
        colour = "grey" if self.channels == 1 else "RGB"
        data = "colour" if self.data_color == "RGB" else "grey"
        how = f"{self.sampled} files sampled" if self.sampled else "every image"
        w, h = self.data_size
        return (f"model input: {self.backbone} reads {self.channels}-channel ({colour}) {self.pixels}x{self.pixels} px"
                + (f" (resized to {self.resize} px, centre-cropped)" if self.resize else "")
                + f"; data: {data} images, typically {w}x{h} px ({how})")

    def notices(self) -> list[str]:
        """What the model loses of the data, each with the options that change it (empty: nothing)."""
        out = []
        if self.data_color == "RGB" and self.channels == 1:
            out.append(f"colour images meet a 1-channel model ({self.backbone}): they are turned grey; for colour "
                       "give a 3-channel backbone: --model NAME with --weights hub (or --weights FILE)")
        if self.shrink > SHRINK_NOTICE:
            out.append(f"images of about {min(self.data_size)} px are shrunk {self.shrink:.0f}x to the model's "
                       f"{self.pixels} px: for a larger input give --model NAME (e.g. vit_small_patch16_224) with "
                       "--weights hub (or --weights FILE), and --resize N for the side before the centre crop")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "data_size": list(self.data_size)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "InputView":
        return cls(**{**data, "data_size": tuple(int(v) for v in data["data_size"])})


def _array_view(array: np.ndarray) -> tuple[str, tuple[int, int]]:
    return ("RGB" if array.ndim == 4 else "L"), (int(array.shape[2]), int(array.shape[1]))


def _is_colour(image: Image.Image) -> bool:
    """Whether ``image`` has colour (not only grey pixels stored as RGB), on a small copy."""
    if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return False
    image.draft("RGB", (64, 64))  # JPEG: decode at a fraction of the size
    small = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.int16)
    spread = np.abs(small - small.mean(axis=2, keepdims=True)).max()
    return bool(spread > COLOUR_LEVELS)


def _file_view(paths: list, samples: int) -> tuple[str, tuple[int, int], int]:
    """(colour, median (w, h), files opened) of up to ``samples`` files spread over ``paths``."""
    picks = sorted({int(i) for i in np.linspace(0, len(paths) - 1, min(samples, len(paths)))})
    sizes, colour = [], False
    for i in picks:
        with Image.open(paths[i]) as image:
            sizes.append(image.size)
            colour = colour or _is_colour(image)
    size = (int(median(w for w, _ in sizes)), int(median(h for _, h in sizes)))
    return ("RGB" if colour else "L"), size, len(picks)


def input_view(source: Source, backbone: str, spec: Mapping[str, Any], samples: int = SAMPLES) -> InputView:
    """The view of a new run: ``source``'s images against the input ``spec`` of model ``backbone``."""
    channels, pixels = int(spec["shape"][1]), int(spec["crop"])
    train = source.train
    if getattr(train, "array", None) is not None:
        colour, size = _array_view(train.array)
        sampled = 0
    else:
        colour, size, sampled = _file_view(list(train.paths), samples)
    return InputView(backbone, channels, pixels, spec.get("resize"), colour, size, sampled)


def stored_view(data: Mapping[str, Any] | None) -> InputView | None:
    """run.json's ``view`` (None for runs created before it was recorded, or an unreadable one)."""
    if not isinstance(data, Mapping):
        return None
    try:
        return InputView.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


__all__ = ["InputView", "input_view", "stored_view", "SHRINK_NOTICE"]
