"""Classifier alignment (InfLoRA+CA, after SLCA): calibrate all task heads from class statistics.

Each task's head is trained on its own classes only, so heads of different tasks are not on a
common scale. Instead of storing images, keep per class the mean mu_c and covariance Sigma_c
(+ 1e-4 I) of the final features, and after each task train every head jointly on features drawn
from N(s_c mu_c, Sigma_c), 256 per seen class. InfLoRA barely moves old classes' features, which
is what keeps these statistics valid after later tasks.

s_c = 0.9 + 0.1 (task(c) + 1) / (t + 1) (official code): older classes' means are shrunk a little
towards the origin, which lowers their logits' confidence and offsets the bias towards old classes
that sampling from stale statistics otherwise gives; the newest task has s_c = 1.

Covariance storage: ``full`` keeps d x d per class (2.4 MB per class for ViT-B in float32),
``diag`` keeps d per class, ``shared`` keeps one pooled within-class covariance for the run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

RIDGE = 1e-4
COV_MODES = ("full", "diag", "shared")


@dataclass
class ClassStats:
    """Per-class means (C x d), covariances (C x d x d | C x d | 1 x d x d), counts, task of each class."""

    classes: Tensor  # (C,) int64, global class ids in output order
    tasks: Tensor  # (C,) int64, 0-based task of each class
    means: Tensor  # (C, d) float64
    covs: Tensor
    counts: Tensor  # (C,) int64
    mode: str

    def to_tensors(self) -> dict[str, Tensor]:
        return {"classes": self.classes, "tasks": self.tasks, "means": self.means, "covs": self.covs,
                "counts": self.counts, "mode": torch.tensor(COV_MODES.index(self.mode))}

    @classmethod
    def from_tensors(cls, t: dict[str, Tensor]) -> "ClassStats":
        return cls(t["classes"], t["tasks"], t["means"], t["covs"], t["counts"], COV_MODES[int(t["mode"])])

    def nbytes(self) -> int:
        return sum(x.numel() * x.element_size() for x in self.to_tensors().values())

    def covariance(self, i: int) -> Tensor:
        if self.mode == "full":
            return self.covs[i]
        if self.mode == "diag":
            return torch.diag(self.covs[i])
        return self.covs[0]


def compute_stats(features: Tensor, labels: Tensor, task: int, mode: str = "full",
                  previous: ClassStats | None = None) -> ClassStats:
    """Add the classes in (features, labels) to ``previous`` (float64; ridge 1e-4 I)."""
    if mode not in COV_MODES:
        raise ValueError(f"--ca-cov must be one of {COV_MODES}, got {mode!r}")
    if previous is not None and previous.mode != mode:
        raise ValueError(f"class statistics were stored as {previous.mode!r}; the run asks for {mode!r}")
    feats = features.double()
    d = feats.shape[1]
    eye = torch.eye(d, dtype=torch.float64)
    classes = torch.unique(labels)
    means, covs, counts = [], [], []
    for c in classes:
        x = feats[labels == c]
        mu = x.mean(0)
        centred = x - mu
        cov = centred.T @ centred / max(len(x) - 1, 1)
        means.append(mu)
        covs.append(cov)
        counts.append(len(x))
    means_t = torch.stack(means)
    counts_t = torch.tensor(counts)
    new = _pack(torch.stack(covs), counts_t, mode, eye, previous)
    if previous is None:
        return ClassStats(classes.long(), torch.full((len(classes),), task), means_t, new, counts_t, mode)
    return ClassStats(torch.cat([previous.classes, classes.long()]),
                      torch.cat([previous.tasks, torch.full((len(classes),), task)]),
                      torch.cat([previous.means, means_t]), new, torch.cat([previous.counts, counts_t]), mode)


def _pack(covs: Tensor, counts: Tensor, mode: str, eye: Tensor, previous: ClassStats | None) -> Tensor:
    if mode == "full":
        new = covs + RIDGE * eye
        return new if previous is None else torch.cat([previous.covs, new])
    if mode == "diag":
        new = torch.diagonal(covs, dim1=1, dim2=2) + RIDGE
        return new if previous is None else torch.cat([previous.covs, new])
    # shared: pooled within-class covariance, weighted by (n_c - 1)
    weights = (counts - 1).clamp_min(1).double()
    pooled_new = (covs * weights.view(-1, 1, 1)).sum(0)
    if previous is not None:
        old_w = float((previous.counts - 1).clamp_min(1).sum())
        pooled_new = pooled_new + (previous.covs[0] - RIDGE * eye) * old_w
        weights = torch.cat([(previous.counts - 1).clamp_min(1).double(), weights])
    return (pooled_new / weights.sum() + RIDGE * eye).unsqueeze(0)


def sample_features(stats: ClassStats, current_task: int, per_class: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Draw ``per_class`` features per class from N(s_c mu_c, Sigma_c); returns (features, output index)."""
    xs, ys = [], []
    for i in range(len(stats.classes)):
        scale = 0.9 + 0.1 * (int(stats.tasks[i]) + 1) / (current_task + 1)
        chol = torch.linalg.cholesky(stats.covariance(i))
        z = torch.randn(per_class, stats.means.shape[1], generator=generator, dtype=torch.float64)
        xs.append(scale * stats.means[i] + z @ chol.T)
        ys.append(torch.full((per_class,), i, dtype=torch.int64))
    return torch.cat(xs).float(), torch.cat(ys)


def normalized_logits(logits: Tensor, task_sizes: list[int], tau: float = 0.1) -> Tensor:
    """Logits divided by the mean over tasks of each task's logit L2 norm, then by tau."""
    norms = torch.stack([part.norm(dim=1) for part in logits.split(task_sizes, dim=1)], dim=1)
    return logits / (norms.mean(1, keepdim=True) + 1e-7) / tau


def align_heads(head: nn.Linear, stats: ClassStats, current_task: int, task_sizes: list[int], seed: int,
                epochs: int = 5, per_class: int = 256, batch_size: int = 256, logit_norm: bool = False) -> list[float]:
    """Train ``head`` (all seen classes) on sampled features: SGD .01, momentum .9, wd 5e-4, cosine."""
    gen = torch.Generator().manual_seed(seed)
    device = head.weight.device
    optimiser = torch.optim.SGD(head.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    losses = []
    for epoch in range(epochs):
        for group in optimiser.param_groups:  # cosine annealing over the epochs, stepped per epoch
            group["lr"] = 0.01 * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        feats, targets = sample_features(stats, current_task, per_class, gen)
        order = torch.randperm(len(targets), generator=gen)
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            logits = head(feats[idx].to(device))
            if logit_norm:
                logits = normalized_logits(logits, task_sizes)
            loss = nn.functional.cross_entropy(logits, targets[idx].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(order))
    return losses
