"""The golden set: a fixed, stratified sample of real test images with PyTorch's logits.

It travels inside the bundle (``golden.npz``) so a device can check, without the training data,
that its runtime reproduces PyTorch (gate levels 1 and 2). Selection: the sample is split as evenly
as possible over the seen tasks, and within a task as evenly as possible over its classes
(:func:`.sampling.stratified_sample`), so no task or class can be missing. Stored with
``np.savez`` (no pickle): ``inputs`` float32 (N,C,H,W), ``labels`` int64 (N,), ``task_ids`` int64
(N,) 1-based, ``logits`` float32 (N,K).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from edgecl_runtime.atomic_io import savez_atomic

from .sampling import split_quota, stratified_sample
from .sources import BatchSource, as_source

DEFAULT_GOLDEN = 256  # images in total (at most; see max_bytes)
DEFAULT_GOLDEN_BYTES = 64 * 1024**2  # 224x224 RGB float32 is 602 KB/image: cap the file near 64 MiB
KEYS = ("inputs", "labels", "task_ids", "logits")


def select_golden(
    test_sets: Sequence[tuple[np.ndarray, np.ndarray] | BatchSource],
    *,
    n: int = DEFAULT_GOLDEN,
    seed: int = 0,
    max_bytes: int = DEFAULT_GOLDEN_BYTES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs float32, labels int64, task_ids int64 1-based) sampled from one test set per seen task.

    ``test_sets[t]`` is task t+1's test set: (inputs float32 NCHW in [0, 1], labels) or a
    :class:`~.sources.BatchSource`. Takes ``min(n, max_bytes // bytes_per_image,
    total)`` images, evenly over tasks, then classes. Rows are chosen from the labels alone and only
    the chosen images are read, so a streamed test set is never materialised.
    """
    if not test_sets:
        raise ValueError("golden set needs at least one task's test set")
    sources = [s if isinstance(s, BatchSource) else (_check_pair(*s, t), as_source(s))[1]
               for t, s in enumerate(test_sets, 1)]
    for t, src in enumerate(sources, 1):
        if len(src) == 0:
            raise ValueError(f"task {t} test set is empty")
    per_image = int(np.prod(sources[0].chw)) * 4
    quota = split_quota([len(s) for s in sources], min(int(n), max(1, int(max_bytes) // per_image)))
    xs, ys, ts = [], [], []
    for t, (src, q) in enumerate(zip(sources, quota), 1):
        idx = stratified_sample(src.labels, q, seed=seed + t)
        xs.append(src.take(idx))
        ys.append(src.labels[idx])
        ts.append(np.full(len(idx), t, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ts)


def _check_pair(x: np.ndarray, y: np.ndarray, task: int) -> np.ndarray:
    if np.ndim(x) != 4 or np.ndim(y) != 1 or len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"task {task} test set must be (inputs (N,C,H,W), labels (N,)) with N >= 1,"
            f" got {np.shape(x)} and {np.shape(y)}"
        )
    return np.asarray(y)


def write_golden(
    path: str | Path, inputs: np.ndarray, labels: np.ndarray, task_ids: np.ndarray, logits: np.ndarray
) -> Path:
    """Validate shapes and write ``golden.npz`` atomically (no pickle); returns ``path``."""
    inputs = np.asarray(inputs, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    task_ids = np.asarray(task_ids, dtype=np.int64)
    logits = np.asarray(logits, dtype=np.float32)
    n = len(inputs)
    if inputs.ndim != 4 or n == 0:
        raise ValueError(f"golden inputs must be (N>=1, C, H, W), got {inputs.shape}")
    if labels.shape != (n,) or task_ids.shape != (n,) or logits.ndim != 2 or len(logits) != n:
        raise ValueError(
            f"golden arrays disagree: inputs {inputs.shape}, labels {labels.shape},"
            f" task_ids {task_ids.shape}, logits {logits.shape}"
        )
    if task_ids.min() < 1:
        raise ValueError("golden task_ids are 1-based: found a value < 1")
    return savez_atomic(path, inputs=inputs, labels=labels, task_ids=task_ids, logits=logits)


def read_golden(path: str | Path) -> dict[str, np.ndarray]:
    """Load ``golden.npz`` with pickle disabled; all four arrays must be present."""
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in KEYS if k not in npz.files]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}: not a golden set")
        return {k: npz[k] for k in KEYS}
