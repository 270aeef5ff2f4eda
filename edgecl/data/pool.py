"""Data worker processes that live for a whole session, not one pass.

A learning task makes many short passes over its data (the statistics pass, every epoch, the
memory update, evaluation, and the exporter's golden/gate/calibration reads). Starting worker
processes for each pass cost more than they saved on small tasks: measured on 2 cores with 200
images per task, ``--workers 2`` was slower than ``--workers 0``. The pool starts its workers once
(a persistent ``DataLoader``) and each pass only sends small batch descriptions
(:class:`~edgecl.data.loader.BatchJob`: the batch's sample indices and its random stream); the
image sets themselves reach the workers once, when they start.

Every batch is still the pure function ``make_batch(imageset, job)``, so results do not depend on
the worker count or on which worker made which batch.  One pass runs at a time: a pass started
while another is still being read (a nested read) is made in this process instead, which gives
the same batches.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from edgecl.data.imageset import ImageSet
from edgecl.data.loader import BatchJob, Failed, check_workers, make_batch
from edgecl.errors import DataError


class _Jobs(torch.utils.data.Dataset):
    """Item ``(key, job)`` -> the batch ``job`` describes, from image set ``key``."""

    def __init__(self, imagesets: Sequence[ImageSet]) -> None:
        self.imagesets = list(imagesets)

    def __len__(self) -> int:  # items are jobs, not positions; the sampler decides how many
        return 0

    def __getitem__(self, item: tuple[int, BatchJob]) -> Any:
        key, job = item
        try:
            return make_batch(self.imagesets[key], job)
        except DataError as exc:  # one line back to the main process, not a worker traceback
            return Failed(str(exc))


class _PassSampler(torch.utils.data.Sampler):
    """The current pass's items; set before each ``iter(loader)``."""

    def __init__(self) -> None:
        self.items: list[tuple[int, BatchJob]] = []

    def __iter__(self) -> Iterator[tuple[int, BatchJob]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class WorkerPool:
    """``workers`` persistent processes making batches of the given image sets.

    Workers start on the first pass (forked or spawned as torch's DataLoader does) and stop on
    :meth:`close` or when the pool is garbage-collected.
    """

    def __init__(self, imagesets: Sequence[ImageSet], workers: int, pin_memory: bool = False) -> None:
        self.workers = check_workers(workers)
        if self.workers == 0:
            raise DataError("a WorkerPool needs at least one worker; use workers=0 without a pool")
        self.imagesets = list(imagesets)
        self.pin_memory = pin_memory
        self._sampler = _PassSampler()
        self._loader: torch.utils.data.DataLoader | None = None
        self._busy = False

    def _key(self, imageset: ImageSet) -> int | None:
        return next((k for k, s in enumerate(self.imagesets) if s is imageset), None)

    def run(self, imageset: ImageSet, jobs: Sequence[BatchJob]) -> Iterator[Any]:
        """The batches of ``jobs`` in order (made here when the pool is busy or does not hold
        ``imageset``)."""
        key = self._key(imageset)
        if key is None or self._busy or not jobs:
            for job in jobs:
                yield make_batch(imageset, job)
            return
        if self._loader is None:
            self._loader = torch.utils.data.DataLoader(
                _Jobs(self.imagesets), batch_size=None, sampler=self._sampler, num_workers=self.workers,
                pin_memory=self.pin_memory, persistent_workers=True)
        self._busy = True
        try:
            self._sampler.items = [(key, job) for job in jobs]
            for item in self._loader:
                if isinstance(item, Failed):
                    raise DataError(item.message)
                yield item
        finally:
            self._busy = False

    def close(self) -> None:
        """Stop the worker processes (a later pass starts new ones)."""
        self._loader = None  # the DataLoader's iterator shuts its workers down when collected
