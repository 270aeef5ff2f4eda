"""One ``learn`` step on a run: load task t-1 from the store, learn task t, evaluate, save.

Every task starts from what is on disk (never from memory), so ``--all``, separate calls and a
rerun after a crash all see bit-identical starting state; with the per-task seeds this makes an
interrupted-and-rerun task equal to an uninterrupted one.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from . import backbone
from .align import ClassStats, align_heads, compute_stats
from .atomic import read_json, write_json
from .classifier import IncrementalClassifier
from .config import RunConfig
from .data.loader import epoch_order, iterate_batches, make_generator, n_batches
from .data.transforms import eval_batch, train_batch
from .distributed import barrier, shard
from .data.sources import Source, load_source
from .data.stream import seen_classes
from .evaluation import evaluate_task
from .inflora import SubspaceMemory, qkv_layers
from .learner import TaskOutcome, TaskSettings, learn_task
from .metrics import run_metrics
from .model import create_vit
from .state import load_memories, load_tensors, save_memories, save_model, save_tensors
from .store import RunStore, StoreError


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


def open_data(run: dict[str, Any], rank: int = 0, world: int = 1) -> RunData:
    config = RunConfig.from_dict(run["config"])
    source = load_source(config.dataset, config.data_root)
    if source.class_names != run["class_names"]:
        raise StoreError(f"the {config.dataset} data no longer matches this run's classes: point --data-root at the original data")
    return RunData(source, run["task_classes"], run["input"], rank, world)


def seed_for(config: RunConfig, task: int) -> int:
    return config.seed * 1000 + task


def stored_vit(store: RunStore, run: dict[str, Any], task: int) -> torch.nn.Module:
    """The plain timm ViT saved after ``task`` (checksum verified), head over every seen class."""
    config = RunConfig.from_dict(run["config"])
    vit = create_vit(config.model, len(seen_classes(run["task_classes"], task)), config.model_kwargs)
    vit.load_state_dict(load_tensors(store.verified_path(task, "weights.safetensors"), "weights"))
    return vit


def load_state(store: RunStore, run: dict[str, Any], task: int, device: torch.device):
    """The classifier and memories as they were after ``task - 1`` (task 1: the backbone)."""
    config = RunConfig.from_dict(run["config"])
    if task == 1:
        torch.manual_seed(config.seed)  # a random-init backbone (--weights none) is part of the run
        vit = backbone.build(config.weights, config.model, config.model_kwargs, run.get("weights_sha256"))
        n_hooked = len(qkv_layers(vit, config.blocks))
        memories = [SubspaceMemory.empty(vit.num_features) for _ in range(n_hooked)]
    else:
        vit = stored_vit(store, run, task - 1)
        memories = load_memories(store.verified_path(task - 1, "memory.safetensors"))
    clf = IncrementalClassifier(vit, config.mean, config.std).to(device)
    return clf, memories


def settings_for(config: RunConfig, amp: str = "none") -> TaskSettings:
    return TaskSettings(rank=config.rank, epochs=config.epochs, lr=config.lr, lam=config.lam, num_tasks=config.tasks,
                        method=config.method, num_blocks=config.blocks, seed=config.seed, amp=amp)


def learn_one(store: RunStore, run: dict[str, Any], data: RunData, task: int, device: torch.device,
              wrap=None, amp: str = "none") -> tuple[dict[str, Any], dict[str, Any]]:
    """Learn 1-based ``task``, write ``task-NN`` atomically, refresh the run metrics.

    Returns (task metrics, run metrics); both are empty on ranks other than 0.
    """
    config = RunConfig.from_dict(run["config"])
    clf, memories = load_state(store, run, task, device)
    train_idx = data.indices("train", task)
    seed = seed_for(config, task)

    def epoch_batches(epoch: int) -> Batches:
        return data.train_batches(train_idx, config.batch_size, augment=config.augment, shuffle=True,
                                  seed=seed, epoch=epoch)

    def stats_batches() -> Batches:  # the same augmented pass before and after training
        return data.train_batches(train_idx, config.batch_size, augment=config.augment, shuffle=False,
                                  seed=seed, epoch=10_000)

    kwargs = {} if wrap is None else {"wrap": wrap}
    outcome: TaskOutcome = learn_task(clf, memories, task - 1, len(data.tasks[task - 1]), stats_batches,
                                      epoch_batches, settings_for(config, amp), device, **kwargs)
    if data.rank != 0:  # other ranks stop here; rank 0 evaluates and writes the store
        barrier()
        return {}, {}
    start = time.perf_counter()
    class_stats = None
    if config.align == "ca":
        class_stats = calibrate(store, clf, data, task, config, device, wrap)
        outcome.seconds["alignment"] = time.perf_counter() - start
    start = time.perf_counter()
    evaluation = evaluate_task(store, clf, data, task, device, wrap)
    outcome.seconds["evaluation"] = time.perf_counter() - start
    metrics = task_metrics(task, outcome, evaluation)
    if class_stats is not None:
        metrics["class_stats_bytes"] = class_stats.nbytes()
    with store.writing_task(task) as tmp:
        save_model(tmp / "weights.safetensors", clf.vit)
        save_memories(tmp / "memory.safetensors", outcome.memories)
        evaluation.save_features(tmp / "features.safetensors")
        if class_stats is not None:
            save_tensors(tmp / "class_stats.safetensors", class_stats.to_tensors())
        write_json(tmp / "metrics.json", metrics)
    run_level = refresh_run_metrics(store)
    barrier()
    return metrics, run_level


@torch.no_grad()
def train_features(clf: IncrementalClassifier, data: RunData, idx: np.ndarray, device: torch.device, wrap=None):
    """Final features of training images under the evaluation transform, with output-position labels."""
    clf.eval()
    batches = data.eval_batches("train", idx)
    feats, labels = [], []
    for x, y in (batches if wrap is None else wrap("class stats", batches)):
        feats.append(clf.features(x.to(device)).double().cpu())
        labels.append(y)
    return torch.cat(feats), torch.cat(labels)


def calibrate(store: RunStore, clf: IncrementalClassifier, data: RunData, task: int, config: RunConfig,
              device: torch.device, wrap=None) -> ClassStats:
    """Add this task's class statistics and, from task 2 on, align every head on sampled features."""
    previous = None
    if task > 1:
        previous = ClassStats.from_tensors(load_tensors(store.verified_path(task - 1, "class_stats.safetensors"),
                                                        "class statistics"))
    feats, labels = train_features(clf, data, data.indices("train", task), device, wrap)
    stats = compute_stats(feats, labels, task - 1, config.ca_cov, previous)
    if task > 1:
        sizes = [len(c) for c in data.tasks[:task]]
        with torch.enable_grad():
            align_heads(clf.vit.head, stats, task - 1, sizes, seed_for(config, task), logit_norm=config.ca_logit_norm)
    return stats


def task_metrics(task: int, outcome: TaskOutcome, evaluation) -> dict[str, Any]:
    ratios = outcome.interference
    return {
        "task": task,
        "accuracy_row": evaluation.accuracy_row,
        "seen_accuracy": evaluation.seen_accuracy,
        "interference": {
            "kv_weight_ratio": ratios,
            "kv_weight_ratio_max": max(ratios) if ratios else 0.0,
            "feature_drift": evaluation.drift,
            "feature_drift_mean": (sum(evaluation.drift.values()) / len(evaluation.drift)) if evaluation.drift else 0.0,
        },
        "old_space_dim": [m.old_space_dim for m in outcome.memories],
        "memory_kind": [m.kind for m in outcome.memories],
        "losses": outcome.losses,
        "seconds": outcome.seconds,
    }


def finished_run_metrics(store: RunStore) -> dict[str, Any]:
    """The run's metrics recomputed from the checksummed metrics of every finished task."""
    return run_metrics([read_json(store.verified_path(t, "metrics.json"), "task metrics")
                        for t in store.finished_tasks()])


def refresh_run_metrics(store: RunStore) -> dict[str, Any]:
    metrics = finished_run_metrics(store)
    write_json(store.root / "metrics.json", metrics)
    return metrics
