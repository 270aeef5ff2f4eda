"""Deterministic batch iteration for training and evaluation (single process).

Determinism contract: the batches (order, membership) and every augmentation are a
pure function of ``(seed, epoch)`` and the inputs, in any process.  Each random
stream gets its own ``torch.Generator`` seeded from
``numpy.random.SeedSequence([seed, epoch, stream...])`` (a hash, so neighbouring
seeds/epochs give unrelated streams):

* the shuffle uses stream ``(0,)``: ``order = indices[randperm(n)]``;
* batch ``b`` draws its augmentations from stream ``(1, b)``, so a batch does not
  depend on how far earlier batches were consumed.

No global RNG is involved; ``grid_sample``, PIL and the numpy preprocessing are
element-wise, so results do not depend on the thread count.  Batches are made by a
function of the batch index alone (:func:`run_batches`), so they can be made in worker
processes (``workers > 0``: a torch ``DataLoader`` over batch indices, ``batch_size=None``,
results in index order) and are bit-identical to the in-process ones (``workers=0``).
A :class:`DataError` raised in a worker (a bad image file) comes back as its one-line
message and is raised again here.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from edgecl.data.imageset import ImageSet
from edgecl.data.transforms import check_augment, eval_batch, train_batch, train_batch_uint8
from edgecl.errors import DataError

if TYPE_CHECKING:
    from edgecl.data.pool import WorkerPool

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


class Failed:
    """A DataError raised while making a batch in a worker, carried back as a value."""

    def __init__(self, message: str) -> None:
        self.message = message


class _BatchDataset(torch.utils.data.Dataset):
    """Batch ``b`` = ``make_batch(b)``: what a DataLoader's workers run."""

    def __init__(self, make_batch: Callable[[int], Any], total: int) -> None:
        self.make_batch, self.total = make_batch, total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, b: int) -> Any:
        try:
            return self.make_batch(b)
        except DataError as exc:  # one line back to the main process, not a worker traceback
            return Failed(str(exc))


def check_workers(workers: Any) -> int:
    """``workers`` as a non-negative int (a one-line DataError otherwise)."""
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 0:
        raise DataError(f"workers must be a non-negative int, got {workers!r}")
    return int(workers)


def run_batches(make_batch: Callable[[int], Any], total: int, workers: int = 0,
                pin_memory: bool = False) -> Iterator[Any]:
    """``make_batch(0) .. make_batch(total - 1)`` in order, made in ``workers`` processes (0: here).

    ``make_batch`` must depend on the batch index only (not on earlier calls), so the result is
    the same for every worker count. ``pin_memory`` pins the tensors (for non-blocking CUDA copies).
    """
    workers = min(check_workers(workers), total)
    if workers == 0:
        for b in range(total):
            yield make_batch(b)
        return
    loader = torch.utils.data.DataLoader(_BatchDataset(make_batch, total), batch_size=None, shuffle=False,
                                         num_workers=workers, pin_memory=pin_memory)
    for item in loader:
        if isinstance(item, Failed):
            raise DataError(item.message)
        yield item


def make_images(imageset: ImageSet, idx: np.ndarray, spec: dict[str, Any], augment: str,
                g: torch.Generator) -> torch.Tensor:
    """One batch's images: float32 in [0,1], or uint8 where the pixels are whole numbers
    (file-backed crop-flip: a quarter of the bytes between processes; :func:`as_float` finishes)."""
    if augment == "none":
        return eval_batch(imageset, idx, spec)
    if augment == "crop-flip":
        raw = train_batch_uint8(imageset, idx, spec, g)
        if raw is not None:
            return raw
    return train_batch(imageset, idx, spec, augment, g)


def as_float(batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
             pin_memory: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(images, labels)`` with uint8 images turned into float32 / 255 (exactly ``train_batch``'s),
    into pinned memory when ``pin_memory``."""
    for x, y in batches:
        if x.dtype == torch.uint8:
            x = torch.empty(x.shape, dtype=torch.float32, pin_memory=pin_memory).copy_(x).div_(255.0)
        yield x, y


@dataclass(frozen=True)
class BatchJob:
    """Everything one batch depends on besides its image set: which samples, and the random
    stream ``(seed, epoch, *stream)`` its augmentation draws from (small, cheap to send to a worker)."""

    idx: np.ndarray
    spec: dict[str, Any]
    augment: str
    seed: int
    epoch: int
    stream: tuple[int, ...]


def make_batch(imageset: ImageSet, job: BatchJob) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` of one batch: a pure function of its arguments."""
    g = make_generator(job.seed, job.epoch, *job.stream)
    x = make_images(imageset, job.idx, job.spec, job.augment, g)
    labels = np.asarray(imageset.labels, dtype=np.int64)[job.idx]
    return x.contiguous(), torch.from_numpy(labels)


def epoch_jobs(order: np.ndarray, spec: dict[str, Any], batch_size: int, augment: str, seed: int, epoch: int,
               drop_last: bool = False, rank: int = 0, world: int = 1) -> list[BatchJob]:
    """The jobs of one epoch over ``order``.

    Under torchrun (``world`` > 1) job ``b`` is this rank's share of global batch ``b`` (every
    ``world``-th image from ``rank``), augmented from stream ``(1, b, rank)`` so ranks differ.
    """
    jobs = []
    for b in range(n_batches(len(order), batch_size, drop_last)):
        idx = order[b * batch_size:(b + 1) * batch_size]
        if world > 1:
            idx = idx[rank::world]
        stream = (1, b) if world == 1 else (1, b, rank)
        jobs.append(BatchJob(np.ascontiguousarray(idx), spec, augment, seed, epoch, stream))
    return jobs


class _JobBatch:
    """Batch ``b`` = ``make_batch(imageset, jobs[b])`` (a picklable callable for :func:`run_batches`)."""

    def __init__(self, imageset: ImageSet, jobs: list[BatchJob]) -> None:
        self.imageset, self.jobs = imageset, jobs

    def __call__(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        return make_batch(self.imageset, self.jobs[b])


def iterate_batches(imageset: ImageSet, indices: np.ndarray, spec: dict[str, Any], batch_size: int, *,
                    augment: str, shuffle: bool, seed: int, epoch: int, drop_last: bool = False,
                    workers: int = 0, pin_memory: bool = False, rank: int = 0,
                    world: int = 1, pool: "WorkerPool | None" = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images float32 (B,C,H,W) in [0,1], labels int64 (B,))`` for one epoch.

    Labels are the image set's own (global) class ids. ``workers`` processes decode and
    augment (0: this process); the batches are bit-identical for every worker count. With
    ``world`` > 1 each global batch is split across ranks (see :func:`epoch_jobs`). A ``pool``
    (:class:`edgecl.data.pool.WorkerPool`) makes the batches in its persistent workers instead.
    """
    check_augment(augment)
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise DataError(f"batch_size must be a positive int, got {batch_size!r}")
    order = epoch_order(indices, shuffle=shuffle, seed=seed, epoch=epoch)
    if len(order) and (order.min() < 0 or order.max() >= len(imageset)):
        raise DataError(f"indices out of range 0..{len(imageset) - 1}; they must index this image set")
    check_workers(workers)
    jobs = epoch_jobs(order, spec, batch_size, augment, seed, epoch, drop_last, rank, world)
    if pool is not None:
        return as_float(pool.run(imageset, jobs), pool.pin_memory)
    return as_float(run_batches(_JobBatch(imageset, jobs), len(jobs), workers, pin_memory), pin_memory)


def iterate_eval(imageset: ImageSet, indices: np.ndarray, spec: dict[str, Any], batch_size: int = 256,
                 workers: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Eval batches in the given order, no augmentation (the device's preprocessing)."""
    return iterate_batches(imageset, indices, spec, batch_size, augment="none", shuffle=False, seed=0, epoch=0,
                           workers=workers)
