"""One ``learn`` step on a run: load task t-1 from the store, learn task t, evaluate, save.

Every task starts from what is on disk (never from memory), so ``--all``, separate calls and a
rerun after a crash all see bit-identical starting state; with the per-task seeds this makes an
interrupted-and-rerun task equal to an uninterrupted one.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from edgecl_runtime.atomic_io import read_json, write_json_atomic

from edgecl.data.run_data import Batches, RunData
from edgecl.inflora import SubspaceMemory, qkv_layers
from edgecl.inflora.factors import BRANCH_FILE
from edgecl.learning.align import ClassStats, align_heads, compute_stats
from edgecl.learning.distributed import barrier
from edgecl.learning.evaluation import evaluate_task
from edgecl.learning.learner import TaskData, TaskOutcome, Training, learn_task
from edgecl.learning.metrics import run_metrics
from edgecl.run.models import stored_vit
from edgecl.run.run import Run
from edgecl.run.store import RunStore
from edgecl.run.tensors import load_memories, load_tensors, save_memories, save_model, save_tensors
from edgecl.vit import backbone
from edgecl.vit.classifier import IncrementalClassifier
from edgecl.vit.model import fresh_final_norm


def load_state(run: Run, task: int, device: torch.device) -> tuple[IncrementalClassifier, list[SubspaceMemory]]:
    """The classifier and memories as they were after ``task - 1`` (task 1: the backbone)."""
    config, store = run.config, run.store
    if task == 1:
        torch.manual_seed(config.seed)  # a random-init backbone (--weights none) is part of the run
        vit = backbone.build(config.weights, config.model, config.model_kwargs, run.weights_sha256)
        if config.fresh_final_norm:  # CIFAR-100 + CA recipe; frozen, so stored with task 1 onwards
            fresh_final_norm(vit)
        n_hooked = len(qkv_layers(vit, config.blocks))
        memories = [SubspaceMemory.empty(vit.num_features) for _ in range(n_hooked)]
    else:
        vit = stored_vit(run, task - 1)
        memories = load_memories(store.verified_path(task - 1, "memory.safetensors"))
    clf = IncrementalClassifier(vit, config.mean, config.std).to(device)
    return clf, memories


def learn_one(run: Run, data: RunData, task: int, training: Training,
              export: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Learn 1-based ``task`` with the run's config, write ``task-NN`` atomically, refresh the run metrics.

    ``export``: a bundle will follow; the task's record says so, so a bundle that never appears
    (export killed) is reported as missing and redone (:mod:`edgecl.run.bundles`).

    Returns (task metrics, run metrics); both are empty on ranks other than 0.
    """
    config, store, device = run.config, run.store, training.device
    wrap = training.wrap
    clf, memories = load_state(run, task, device)
    train_idx = data.indices("train", task)
    seed = run.seed(task)

    def epoch_batches(epoch: int) -> Batches:
        return on_device(data.train_batches(train_idx, config.batch_size, augment=config.augment, shuffle=True,
                                            seed=seed, epoch=epoch), device)

    def stats_batches() -> Batches:  # the same augmented pass before and after training
        return on_device(data.train_batches(train_idx, config.batch_size, augment=config.augment, shuffle=False,
                                            seed=seed, epoch=10_000), device)

    waited = data.wait_seconds
    outcome: TaskOutcome = learn_task(clf, memories, TaskData(task - 1, len(data.tasks[task - 1]), stats_batches,
                                                              epoch_batches), config, training)
    if data.rank != 0:  # other ranks stop here; rank 0 evaluates and writes the store
        barrier()
        return {}, {}
    start = time.perf_counter()
    class_stats = None
    if config.align == "ca":
        class_stats = calibrate(run, clf, data, task, device, wrap)
        outcome.seconds["alignment"] = time.perf_counter() - start
    start = time.perf_counter()
    evaluation = evaluate_task(store, clf, data, task, device, wrap)
    outcome.seconds["evaluation"] = time.perf_counter() - start
    outcome.seconds["data_wait"] = data.wait_seconds - waited  # part of the phases above, spent reading images
    metrics = task_metrics(task, outcome, evaluation)
    if class_stats is not None:
        metrics["class_stats_bytes"] = class_stats.nbytes()
    with store.writing_task(task, {"export_requested": export}) as tmp:
        save_model(tmp / "weights.safetensors", clf.vit)
        save_memories(tmp / "memory.safetensors", outcome.memories)
        save_tensors(tmp / BRANCH_FILE, outcome.factors, {"format": "edgecl-branch-1"})  # OTA updates ship these
        evaluation.save_features(tmp / "features.safetensors")
        if class_stats is not None:
            save_tensors(tmp / "class_stats.safetensors", class_stats.to_tensors())
        write_json_atomic(tmp / "metrics.json", metrics)
    run_level = refresh_run_metrics(store)
    barrier()
    return metrics, run_level


def on_device(batches: Batches, device: torch.device) -> Batches:
    """The batches copied to a CUDA ``device`` as they come (non-blocking from pinned memory);
    unchanged for the CPU."""
    if device.type != "cuda":
        return batches

    def make():
        for x, y in batches:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    return Batches(make, len(batches))


@torch.no_grad()
def train_features(clf: IncrementalClassifier, data: RunData, idx: np.ndarray, device: torch.device, wrap=None):
    """Final features of training images under the evaluation transform, with output-position labels."""
    clf.eval()
    batches = on_device(data.eval_batches("train", idx), device)
    feats, labels = [], []
    for x, y in (batches if wrap is None else wrap("class stats", batches)):
        feats.append(clf.features(x.to(device)).double().cpu())
        labels.append(y)
    return torch.cat(feats), torch.cat(labels)


def calibrate(run: Run, clf: IncrementalClassifier, data: RunData, task: int,
              device: torch.device, wrap=None) -> ClassStats:
    """Add this task's class statistics and, from task 2 on, align every head on sampled features."""
    config, store = run.config, run.store
    previous = None
    if task > 1:
        previous = ClassStats.from_tensors(load_tensors(store.verified_path(task - 1, "class_stats.safetensors"),
                                                        "class statistics"))
    feats, labels = train_features(clf, data, data.indices("train", task), device, wrap)
    stats = compute_stats(feats, labels, task - 1, config.ca_cov, previous)
    if task > 1:
        sizes = [len(c) for c in data.tasks[:task]]
        with torch.enable_grad():
            align_heads(clf.vit.head, stats, task - 1, sizes, run.seed(task), logit_norm=config.ca_logit_norm)
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
    write_json_atomic(store.root / "metrics.json", metrics)
    return metrics
