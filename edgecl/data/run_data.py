"""The data of one run: its source, its tasks, and batches with labels in output order.

Labels are remapped to output positions (the order classes were learned), so a batch's targets
index the classifier's logits directly. Under torchrun every rank sees its own share of every
global batch, taken so that the global batch is exactly the single-process one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from edgecl.data.loader import epoch_order, iterate_batches, make_generator, n_batches
from edgecl.data.sources import Source, load_source
from edgecl.data.transforms import eval_batch, train_batch
from edgecl.errors import DataError

if TYPE_CHECKING:
    from edgecl.run.run import Run


class Batches:
    """A re-iterable, sized view of one epoch's batches (so progress bars know the total)."""

    def __init__(self, make: Callable[[], Any], total: int) -> None:
        self.make, self.total = make, total

    def __iter__(self):
        return iter(self.make())

    def __len__(self) -> int:
        return self.total


@dataclass
class RunData:
    """The run's data; labels are remapped to output positions (the order classes were learned)."""

    source: Source
    tasks: list[list[int]]  # class ids per task, in task order
    spec: dict[str, Any]
    rank: int = 0
    world: int = 1

    @property
    def position(self) -> torch.Tensor:
        """position[class id] = index of that class in the model's output."""
        order = [c for group in self.tasks for c in group]
        table = torch.full((len(self.source.class_names),), -1, dtype=torch.int64)
        table[torch.tensor(order)] = torch.arange(len(order))
        return table

    def batches(self, split: str, idx: np.ndarray, batch_size: int, **kw) -> Batches:
        imageset, table = getattr(self.source, split), self.position
        def make():
            for x, y in iterate_batches(imageset, idx, self.spec, batch_size, **kw):
                yield x, table[y]
        return Batches(make, n_batches(len(idx), batch_size))

    def train_batches(self, idx: np.ndarray, batch_size: int, *, augment: str, shuffle: bool, seed: int,
                      epoch: int) -> Batches:
        """Training-side batches; under torchrun, this rank's share of every global batch."""
        if self.world == 1:
            return self.batches("train", idx, batch_size, augment=augment, shuffle=shuffle, seed=seed, epoch=epoch)
        imageset, table = self.source.train, self.position
        order = epoch_order(idx, shuffle=shuffle, seed=seed, epoch=epoch)
        labels = torch.from_numpy(np.asarray(imageset.labels, dtype=np.int64))
        total = n_batches(len(order), batch_size)

        def make():
            for b in range(total):
                part = shard(order[b * batch_size:(b + 1) * batch_size], self.rank, self.world)
                if augment == "none":
                    x = eval_batch(imageset, part, self.spec)
                else:
                    x = train_batch(imageset, part, self.spec, augment, make_generator(seed, epoch, 1, b, self.rank))
                yield x, table[labels[torch.from_numpy(part)]]
        return Batches(make, total)

    def eval_batches(self, split: str, idx: np.ndarray, batch_size: int = 256) -> Batches:
        return self.batches(split, idx, batch_size, augment="none", shuffle=False, seed=0, epoch=0)

    def indices(self, split: str, task: int) -> np.ndarray:
        """Sample indices of 1-based ``task`` in ``split``."""
        imageset = getattr(self.source, split)
        return np.flatnonzero(np.isin(imageset.labels, self.tasks[task - 1]))


def shard(batch_indices: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's share of one global batch (every ``world``-th element from ``rank``)."""
    return batch_indices[rank::world]


def open_data(run: "Run", rank: int = 0, world: int = 1) -> RunData:
    """The run's data source, checked against the classes frozen in run.json."""
    config = run.config
    source = load_source(config.dataset, config.data_root)
    if source.class_names != run.class_names:
        raise DataError(f"the {config.dataset} data no longer matches this run's classes: "
                        "point --data-root at the original data")
    return RunData(source, run.task_classes, run.input, rank, world)
