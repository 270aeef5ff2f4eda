"""Evaluation after a task: per-task accuracy, accuracy on all seen classes, old-feature drift.

Drift measures the paper's claim directly: for each old task j, a fixed sample of its test images
is embedded right after j is learned; after task t the mean relative change
||f_t(x) - f_j(x)|| / ||f_j(x)|| over that sample says how much learning moved old features.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgecl.vit.classifier import IncrementalClassifier
from edgecl.run.tensors import load_tensors, save_tensors

DRIFT_SAMPLE = 128


def drift_indices(test_idx: np.ndarray, n: int = DRIFT_SAMPLE) -> np.ndarray:
    """A fixed, seed-independent sample of a task's test images."""
    rng = np.random.default_rng(12345)
    return np.sort(rng.choice(test_idx, size=min(n, len(test_idx)), replace=False))


@dataclass
class Evaluation:
    accuracy_row: list[float]
    seen_accuracy: float
    drift: dict[str, float] = field(default_factory=dict)
    features: torch.Tensor | None = None
    feature_indices: np.ndarray | None = None

    def save_features(self, path: Path) -> None:
        save_tensors(path, {"features": self.features, "indices": torch.from_numpy(self.feature_indices)})


@torch.no_grad()
def predict(clf: IncrementalClassifier, data, idx: np.ndarray, device: torch.device, wrap=None, phase: str = "eval"):
    """(predictions, labels) over test images ``idx``."""
    preds, labels = [], []
    batches = data.eval_batches("test", idx)
    for images, y in (batches if wrap is None else wrap(phase, batches)):
        preds.append(clf(images.to(device)).argmax(1).cpu())
        labels.append(y)
    return torch.cat(preds), torch.cat(labels)


@torch.no_grad()
def features_of(clf: IncrementalClassifier, data, idx: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.cat([clf.features(x.to(device)).cpu() for x, _ in data.eval_batches("test", idx)])


def evaluate_task(store, clf: IncrementalClassifier, data, task: int, device: torch.device, wrap=None) -> Evaluation:
    clf.eval()
    row, correct, total = [], 0, 0
    for j in range(1, task + 1):
        pred, y = predict(clf, data, data.indices("test", j), device, wrap, f"test task {j}")
        hits = int((pred == y).sum())
        row.append(100.0 * hits / max(len(y), 1))
        correct, total = correct + hits, total + len(y)
    drift: dict[str, Any] = {}
    for j in range(1, task):
        saved = load_tensors(store.verified_path(j, "features.safetensors"), "features")
        now = features_of(clf, data, saved["indices"].numpy(), device)
        rel = (now - saved["features"]).norm(dim=1) / saved["features"].norm(dim=1).clamp_min(1e-12)
        drift[str(j)] = float(rel.mean())
    idx = drift_indices(data.indices("test", task))
    return Evaluation(row, 100.0 * correct / max(total, 1), drift, features_of(clf, data, idx, device), idx)
