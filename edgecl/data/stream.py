"""Class-incremental task stream: which classes each task brings, which samples it uses.

The ``n_classes`` labels are cut into ``n_tasks`` equal, disjoint groups.  The class
order is the natural one ``0..n_classes-1`` unless ``shuffle_seed`` is given, in which
case it is ``numpy.random.default_rng(shuffle_seed).permutation(n_classes)`` (PCG64:
the same order on every machine and numpy version that keeps the generator stable).
"""
from __future__ import annotations

import numpy as np

from edgecl.data.imageset import ImageSet
from edgecl.errors import DataError


def class_order(n_classes: int, shuffle_seed: int | None = None) -> list[int]:
    """All class ids in learning order (natural, or a seeded permutation)."""
    if not isinstance(n_classes, int) or n_classes <= 0:
        raise DataError(f"n_classes must be a positive int, got {n_classes!r}")
    if shuffle_seed is None:
        return list(range(n_classes))
    return [int(c) for c in np.random.default_rng(shuffle_seed).permutation(n_classes)]


def split_classes(n_classes: int, n_tasks: int, shuffle_seed: int | None = None) -> list[list[int]]:
    """Split the class order into ``n_tasks`` consecutive groups of ``n_classes // n_tasks``."""
    if not isinstance(n_tasks, int) or n_tasks <= 0:
        raise DataError(f"n_tasks must be a positive int, got {n_tasks!r}")
    if not isinstance(n_classes, int) or n_classes <= 0 or n_classes % n_tasks:
        raise DataError(
            f"{n_classes} classes cannot be split into {n_tasks} equal tasks; choose --tasks dividing {n_classes}"
        )
    order = class_order(n_classes, shuffle_seed)
    k = n_classes // n_tasks
    return [order[t * k:(t + 1) * k] for t in range(n_tasks)]


def task_indices(imageset: ImageSet, classes: list[int] | np.ndarray) -> np.ndarray:
    """Ascending int64 indices of the samples of ``imageset`` whose label is in ``classes``."""
    wanted = np.asarray(list(classes), dtype=np.int64)
    return np.flatnonzero(np.isin(imageset.labels, wanted)).astype(np.int64)


def seen_classes(tasks: list[list[int]], task: int) -> list[int]:
    """Classes of tasks 1..``task`` (1-based), in learning order."""
    if not 1 <= task <= len(tasks):
        raise DataError(f"task {task} out of range 1..{len(tasks)}")
    return [c for group in tasks[:task] for c in group]
