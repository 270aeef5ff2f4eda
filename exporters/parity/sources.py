"""Image sets as batch sources, so an export never holds a whole test or calibration set in memory.

A :class:`BatchSource` knows its labels up front (no pixels needed) and yields
``(inputs float32 (B, C, H, W) in [0, 1], labels (B,))`` batches on demand, over all of its rows or
over a chosen, sorted subset of them. Export uses it three ways:

* the PyTorch reference and every format's gate (levels 2 and 3) run batch by batch and keep only
  logits (N x K) and labels;
* the golden set is chosen from the labels alone (stratified by task, then class) and only those
  rows are read into memory (:meth:`BatchSource.take`);
* INT8 calibration reads its images batch by batch through an ORT ``CalibrationDataReader``.

So peak memory is one batch plus the golden set plus logits, whatever the size of the test sets.
A ``(inputs, labels)`` array pair is still accepted everywhere (:func:`as_source` wraps it; slices
of an array are views, so wrapping copies nothing).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np

Batch = tuple[np.ndarray, np.ndarray]
DEFAULT_BATCH = 64


@dataclass
class BatchSource:
    """``labels`` (N,) of every row, ``chw`` the image shape, ``read(rows)`` the batches of ``rows``.

    ``read`` gets sorted row positions (0..N-1) and must yield the batches of exactly those rows, in
    that order, as (inputs, labels) pairs of numpy arrays or CPU torch tensors.
    """

    labels: np.ndarray
    chw: tuple[int, int, int]
    read: Callable[[np.ndarray], Iterable[tuple[Any, Any]]]

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.chw = tuple(int(d) for d in self.chw)

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, rows: np.ndarray | None = None) -> Iterator[Batch]:
        """(inputs float32, labels int64) batches of ``rows`` (default: all rows), in row order."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        for x, y in self.read(rows):
            yield _numpy(x, np.float32), _numpy(y, np.int64).reshape(-1)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The inputs of ``rows`` as one float32 array: only for small, deliberate subsets (golden set)."""
        rows = np.asarray(rows, dtype=np.int64)
        xs = [x for x, _ in self.batches(rows)]
        out = np.concatenate(xs) if xs else np.zeros((0, *self.chw), np.float32)
        if len(out) != len(rows):
            raise ValueError(f"batch source gave {len(out)} images for {len(rows)} requested rows")
        return out


def array_source(x: np.ndarray, y: np.ndarray, *, batch_size: int = DEFAULT_BATCH) -> BatchSource:
    """A :class:`BatchSource` over in-memory arrays (each batch is a view or a small gather)."""
    x = np.asarray(x)

    def read(rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        contiguous = len(rows) > 0 and rows[-1] - rows[0] + 1 == len(rows)
        for i in range(0, len(rows), batch_size):
            part = rows[i:i + batch_size]
            xb = x[part[0]:part[-1] + 1] if contiguous else x[part]
            yield xb, np.asarray(y)[part]

    return BatchSource(np.asarray(y), tuple(np.shape(x)[1:]), read)


def as_source(obj: Any, *, batch_size: int = DEFAULT_BATCH) -> BatchSource:
    """``obj`` if it is a :class:`BatchSource`, else an ``(inputs, labels)`` pair wrapped as one."""
    if isinstance(obj, BatchSource):
        return obj
    x, y = obj
    return array_source(x, y, batch_size=batch_size)


def check_batch(x: np.ndarray, chw: tuple[int, int, int], what: str) -> None:
    """One-line ValueError unless ``x`` is NCHW of size ``chw`` with values in [0, 1]."""
    if np.ndim(x) != 4 or tuple(np.shape(x)[1:]) != tuple(chw) or len(x) == 0:
        raise ValueError(f"{what} must be (N>=1, {chw[0]}, {chw[1]}, {chw[2]}) per the input spec,"
                         f" got {np.shape(x)}")
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (lo >= -1e-6 and hi <= 1 + 1e-6):
        raise ValueError(f"{what} span [{lo:.3g}, {hi:.3g}]: give [0, 1] inputs"
                         " (normalisation is inside the graph)")


def _numpy(a: Any, dtype: type) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=dtype)


__all__ = ["BatchSource", "array_source", "as_source", "check_batch", "DEFAULT_BATCH"]
