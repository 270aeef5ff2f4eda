"""The optimiser of one task: two parameter groups, branches and the new head.

The official recipes differ only here:

- Adam (CIFAR-100, ImageNet-R, the b5 variants): one rate for everything, no weight decay.
- SGD, momentum 0.9 (DomainNet, both + CA variants): the branches ``U_k, U_v`` at ``lr`` and the
  task's head at ``head_lr`` (DomainNet 5e-3 / 1e-2, CIFAR-100 + CA 1e-3 / 1e-2), the same weight
  decay on both groups, as ``torch.optim.SGD(..., momentum=0.9, weight_decay=wd)`` in the official
  code.

Each group keeps its base rate in ``base_lr``; :func:`set_epoch_rates` multiplies it by the
schedule's factor at the start of every epoch, so the head/branch ratio holds throughout. Adam's
update is per parameter, so two groups at one rate train exactly as the former single group did.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from edgecl.learning.schedule import Schedule

OPTIMISERS = ("adam", "sgd")
MOMENTUM = 0.9


def make_optimiser(kind: str, branches: Iterable[nn.Parameter], head: Iterable[nn.Parameter],
                   lr: float, head_lr: float | None, weight_decay: float) -> torch.optim.Optimizer:
    """Adam or SGD(momentum 0.9) over [branches at ``lr``, head at ``head_lr`` (None: ``lr``)]."""
    groups = [{"params": list(branches), "lr": lr, "base_lr": lr},
              {"params": list(head), "lr": head_lr or lr, "base_lr": head_lr or lr}]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=MOMENTUM, weight_decay=weight_decay)
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimiser {kind!r}: use {' or '.join(OPTIMISERS)}")


def set_epoch_rates(optimiser: torch.optim.Optimizer, schedule: Schedule, epoch: int, epochs: int) -> None:
    """lr of every group = its base rate x the schedule's factor for ``epoch`` (0-based)."""
    factor = schedule.factor(epoch, epochs)
    for group in optimiser.param_groups:
        group["lr"] = group["base_lr"] * factor
