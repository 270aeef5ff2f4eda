"""Stratified sampling: the same share of every class (or task), reproducibly.

Used for the INT8 calibration set (ranges must cover every seen task, not just the latest one: a
calibration drawn from one task clips the activations of the others) and for the golden set.
"""
from __future__ import annotations

import numpy as np


def stratified_sample(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``min(n, len(labels))`` rows, split as evenly as possible over the strata.

    Strata are the distinct values of ``labels`` (class ids, or task ids, or any integer key). Each
    stratum gets ``floor(n / S)`` rows, or all of its rows if it has fewer; the rows left over go
    one at a time to the strata with the most rows still unused (ties: lowest label). Within a
    stratum, rows are a uniform draw without replacement from ``np.random.default_rng(seed)``, so
    the result depends only on (labels, n, seed).
    """
    labels = np.asarray(labels).reshape(-1)
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"sample size must be a non-negative int, got {n!r}")
    n = min(int(n), len(labels))
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(labels, return_inverse=True)
    members = [rng.permutation(np.flatnonzero(inverse == k)) for k in range(len(classes))]
    quota = split_quota([len(m) for m in members], n)
    picked = [m[:q] for m, q in zip(members, quota)]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def split_quota(sizes: list[int], n: int) -> list[int]:
    """Per-stratum counts summing to ``min(n, sum(sizes))``, as equal as the sizes allow."""
    n = min(int(n), sum(sizes))
    quota = [0] * len(sizes)
    left = n
    while left > 0:
        open_ = [k for k, s in enumerate(sizes) if quota[k] < s]
        share = left // len(open_)
        if share == 0:
            for k in sorted(open_, key=lambda k: (-(sizes[k] - quota[k]), k))[:left]:
                quota[k] += 1
            break
        for k in open_:
            take = min(share, sizes[k] - quota[k])
            quota[k] += take
            left -= take
    return quota
