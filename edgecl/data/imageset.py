"""Image sets (array- or file-backed) and the ``Source`` record a dataset loader returns.

An image set is a labelled list of images.  Array-backed sets keep all pixels in one
uint8 array ``(N, H, W)`` (grey) or ``(N, H, W, 3)`` (RGB) so the loaders can slice
whole batches without PIL; file-backed sets hold paths and decode on demand.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from edgecl.errors import DataError


@runtime_checkable
class ImageSet(Protocol):
    """What every image set offers: int64 ``labels``, ``len``, ``image(i)``, ``array``."""

    labels: np.ndarray
    array: np.ndarray | None

    def __len__(self) -> int: ...

    def image(self, i: int) -> Image.Image: ...


def _as_labels(labels: np.ndarray | list[int], n: int, what: str) -> np.ndarray:
    """Validate labels: 1-D, non-negative, one per image; returned as int64."""
    lab = np.asarray(labels)
    if lab.ndim != 1 or len(lab) != n:
        raise DataError(f"{what}: {lab.shape} labels for {n} images; the label and image files do not match")
    if lab.size and (lab.dtype.kind not in "iu" or lab.min() < 0):
        raise DataError(f"{what}: labels must be non-negative integers, got dtype {lab.dtype}")
    return lab.astype(np.int64)


class ArrayImageSet:
    """Image set over a uint8 array (N,H,W) or (N,H,W,3) plus labels."""

    def __init__(self, array: np.ndarray, labels: np.ndarray | list[int], what: str = "image set") -> None:
        arr = np.asarray(array)
        if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] != 3):
            raise DataError(f"{what}: images must be uint8 (N,H,W) or (N,H,W,3), got {arr.dtype} {arr.shape}")
        self.array: np.ndarray | None = arr
        self.labels = _as_labels(labels, len(arr), what)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def color(self) -> str:
        """"L" for (N,H,W) arrays, "RGB" for (N,H,W,3)."""
        assert self.array is not None
        return "L" if self.array.ndim == 3 else "RGB"

    def image(self, i: int) -> Image.Image:
        """Image ``i`` as a PIL image (mode L or RGB)."""
        assert self.array is not None
        return Image.fromarray(self.array[i])


class FileImageSet:
    """Image set over image files; decoding errors name the offending file."""

    array: np.ndarray | None = None

    def __init__(self, paths: list[Path], labels: np.ndarray | list[int], what: str = "image set") -> None:
        self.paths = [Path(p) for p in paths]
        self.labels = _as_labels(labels, len(self.paths), what)

    def __len__(self) -> int:
        return len(self.labels)

    def check_headers(self) -> None:
        """Open every file's header (cheap, no decoding) so bad files fail early, by name."""
        for path in self.paths:
            try:
                with Image.open(path):
                    pass
            except (OSError, ValueError, SyntaxError) as exc:
                raise DataError(f"cannot read image {path}: {exc}; delete or replace this file") from None

    def image(self, i: int) -> Image.Image:
        """Decode image ``i`` fully (so truncated files fail here, not later)."""
        path = self.paths[i]
        try:
            with Image.open(path) as img:
                img.load()
                return img.copy()
        except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
            raise DataError(f"cannot read image {path}: {exc}; delete or replace this file") from None


@dataclass(frozen=True)
class Source:
    """A dataset: class names (index = label), train/test sets, colour and native size.

    ``color`` is the data's own colour ("L" or "RGB"); a source whose files may be of any mode
    (``imagefolder``) sets ``color_follows_model`` and is read in the model's colour, ``color``
    being only its default when the model can take either.
    """

    name: str
    class_names: list[str]
    train: ImageSet
    test: ImageSet
    color: str
    native_size: int | None
    color_follows_model: bool = False

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)
