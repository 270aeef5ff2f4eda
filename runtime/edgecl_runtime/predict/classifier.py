"""Python API: ``Classifier(bundle_dir).predict(images, top_k)``.

Images go through the manifest's input spec with the shared ``preprocess`` (the exact eval
transform the trainer used), the backend returns logits, and probabilities are the softmax
``p_i = exp(z_i - max z) / sum_j exp(z_j - max z)`` (max subtracted for overflow safety).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
from PIL import Image

from ..backends import Backend, open_backend
from ..bundle.read import Bundle, load_bundle
from ..contract import base_precision
from ..errors import BundleError, ImageError
from ..inputs.images import expand_inputs, open_image
from ..inputs.preprocess import check_spec, preprocess, spec_chw

ImageLike = Union[Image.Image, str, os.PathLike]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (then float32), stable for large logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def top_predictions(probs: np.ndarray, classes: Sequence[str], k: int) -> list[dict[str, Any]]:
    """The k most probable classes of one probability row, best first."""
    k = max(1, min(int(k), probs.shape[-1]))
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"class": classes[i], "index": int(i), "probability": float(probs[i])} for i in order]


class Classifier:
    """A verified bundle + a backend, ready to classify images."""

    def __init__(self, bundle_dir: str | os.PathLike[str] | Bundle, backend: str = "ort",
                 precision: str = "fp32", batch_size: int = 32, check_hashes: bool = True,
                 **backend_options: Any) -> None:
        self.bundle = bundle_dir if isinstance(bundle_dir, Bundle) else \
            load_bundle(bundle_dir, check_hashes=check_hashes)
        self.precision = base_precision(precision)
        self.backend_name = backend
        try:
            check_spec(self.bundle.input_spec)
        except ValueError as exc:
            raise BundleError(f"bundle {self.bundle.path}: {exc}") from None
        self.batch_size = max(1, int(batch_size))
        self.backend: Backend = open_backend(self.bundle, backend, self.precision, **backend_options)
        k = self.bundle.manifest.get("output", {}).get("shape", [None, len(self.classes)])[-1]
        if isinstance(k, int) and k > 0 and k != len(self.classes):
            raise BundleError(f"bundle {self.bundle.path}: output has {k} logits but "
                              f"{len(self.classes)} classes are listed; re-export it")

    @property
    def classes(self) -> list[str]:
        return self.bundle.classes

    @property
    def task(self) -> int:
        return self.bundle.task

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return spec_chw(self.bundle.input_spec)

    def prepare(self, image: ImageLike, name: str | None = None) -> np.ndarray:
        """One image (PIL or path) -> float32 (C,H,W); ImageError naming a bad file (``name`` if given)."""
        img = image if isinstance(image, Image.Image) else open_image(image)
        try:
            return preprocess(img, self.bundle.input_spec)
        except (ValueError, OSError) as exc:
            raise ImageError(f"{name or getattr(image, 'filename', '') or image}: cannot convert "
                             f"({exc})") from None

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Backend logits for a preprocessed (N,C,H,W) batch, in chunks of ``batch_size``."""
        parts = [self.backend.run(batch[i:i + self.batch_size])
                 for i in range(0, len(batch), self.batch_size)]
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, len(self.classes)),
                                                                     np.float32)

    def predict(self, images: Sequence[ImageLike], top_k: int = 5) -> list[list[dict[str, Any]]]:
        """Top-k predictions per image; raises ImageError on the first bad image."""
        if isinstance(images, (str, os.PathLike, Image.Image)):
            images = [images]
        batch = np.stack([self.prepare(im) for im in images]) if images else \
            np.zeros((0, *self.input_shape), np.float32)
        probs = softmax(self.logits(batch))
        return [top_predictions(p, self.classes, top_k) for p in probs]

    def classify(self, inputs: Sequence[str | os.PathLike[str]], top_k: int = 5
                 ) -> list[dict[str, Any]]:
        """Partial-results variant for paths/directories: one record per item.

        Each record is ``{"input": str, "predictions": [...]}`` or ``{"input": str, "error": str}``;
        good items are classified even when others fail.
        """
        records: list[dict[str, Any]] = []
        arrays: list[np.ndarray] = []
        slots: list[int] = []
        for item in expand_inputs(inputs):
            if item.error:
                records.append({"input": item.source, "error": item.error})
                continue
            try:
                arrays.append(self.prepare(Path(item.path)))  # type: ignore[arg-type]
                slots.append(len(records))
                records.append({"input": item.source})
            except ImageError as exc:
                records.append({"input": item.source, "error": str(exc)})
        if arrays:
            probs = softmax(self.logits(np.stack(arrays)))
            for slot, p in zip(slots, probs):
                records[slot]["predictions"] = top_predictions(p, self.classes, top_k)
        return records

    def close(self) -> None:
        self.backend.close()

