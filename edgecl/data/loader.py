"""Deterministic batch iteration for training and evaluation (single process).

Determinism contract: the batches (order, membership) and every augmentation are a
pure function of ``(seed, epoch)`` and the inputs, in any process.  Each random
stream gets its own ``torch.Generator`` seeded from
``numpy.random.SeedSequence([seed, epoch, stream...])`` (a hash, so neighbouring
seeds/epochs give unrelated streams):

* the shuffle uses stream ``(0,)``: ``order = indices[randperm(n)]``;
* batch ``b`` draws its augmentations from stream ``(1, b)``, so a batch does not
  depend on how far earlier batches were consumed.

No worker processes and no global RNG are involved; ``grid_sample`` and the numpy
preprocessing are element-wise, so results do not depend on the thread count.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from edgecl.data.imageset import ImageSet
from edgecl.data.transforms import check_augment, eval_batch, train_batch
from edgecl.errors import DataError

_MASK63 = (1 << 63) - 1


def make_generator(seed: int, epoch: int, *stream: int) -> torch.Generator:
    """CPU generator seeded by hashing ``(seed, epoch, *stream)`` with SeedSequence."""
    for name, v in (("seed", seed), ("epoch", epoch)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
            raise DataError(f"{name} must be a non-negative int, got {v!r}")
    state = np.random.SeedSequence([int(seed), int(epoch), *map(int, stream)]).generate_state(2, np.uint32)
    g = torch.Generator(device="cpu")
    g.manual_seed(((int(state[0]) << 32) | int(state[1])) & _MASK63)
    return g


def epoch_order(indices: np.ndarray, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """Sample order for one epoch: ``indices`` as given, or permuted by (seed, epoch)."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.ndim != 1:
        raise DataError(f"indices must be 1-D, got shape {idx.shape}")
    if not shuffle:
        return idx
    perm = torch.randperm(len(idx), generator=make_generator(seed, epoch, 0)).numpy()
    return idx[perm]


def n_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches one epoch over ``n`` samples yields."""
    return n // batch_size if drop_last else -(-n // batch_size)


def iterate_batches(imageset: ImageSet, indices: np.ndarray, spec: dict[str, Any], batch_size: int, *,
                    augment: str, shuffle: bool, seed: int, epoch: int,
                    drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images float32 (B,C,H,W) in [0,1], labels int64 (B,))`` for one epoch.

    Labels are the image set's own (global) class ids.
    """
    check_augment(augment)
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise DataError(f"batch_size must be a positive int, got {batch_size!r}")
    order = epoch_order(indices, shuffle=shuffle, seed=seed, epoch=epoch)
    if len(order) and (order.min() < 0 or order.max() >= len(imageset)):
        raise DataError(f"indices out of range 0..{len(imageset) - 1}; they must index this image set")
    labels = np.asarray(imageset.labels, dtype=np.int64)
    for b in range(n_batches(len(order), batch_size, drop_last)):
        idx = order[b * batch_size:(b + 1) * batch_size]
        if augment == "none":
            x = eval_batch(imageset, idx, spec)
        else:
            x = train_batch(imageset, idx, spec, augment, make_generator(seed, epoch, 1, b))
        yield x.contiguous(), torch.from_numpy(labels[idx].copy())


def iterate_eval(imageset: ImageSet, indices: np.ndarray, spec: dict[str, Any],
                 batch_size: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Eval batches in the given order, no augmentation (the device's preprocessing)."""
    return iterate_batches(imageset, indices, spec, batch_size, augment="none", shuffle=False, seed=0, epoch=0)
