"""Per-epoch learning-rate schedules of the official InfLoRA recipes.

Every schedule is a factor f(e) in (0, 1] applied at the start of epoch e (0-based) to each
parameter group's base rate (branches: ``lr``, heads: ``head_lr``), the way the official code
steps its scheduler once per epoch:

- ``cosine`` (the default; InfLoRA's own ``CosineSchedule``, Adam recipes):
  f(e) = cos(99 pi e / (200 (E - 1))), which only falls to cos(99 pi / 200) ~ 0.016 at the end.
- ``cosine-annealing`` (PyTorch's ``CosineAnnealingLR`` with T_max = E; the ImageNet-R + CA
  recipe): f(e) = (1 + cos(pi e / E)) / 2.
- ``multistep:E1,E2,...`` (``MultiStepLR``, gamma 0.1; DomainNet [4], CIFAR-100 + CA [18]):
  f(e) = 0.1 ** #{milestones m <= e}.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edgecl.errors import ConfigError

GAMMA = 0.1  # the official recipes' lrate_decay
NAMES = ("cosine", "cosine-annealing", "multistep:E1,E2")


@dataclass(frozen=True)
class Schedule:
    kind: str  # "cosine" | "cosine-annealing" | "multistep"
    milestones: tuple[int, ...] = ()

    def factor(self, epoch: int, epochs: int) -> float:
        """f(epoch) for a task of ``epochs`` epochs (module docstring)."""
        if self.kind == "multistep":
            return GAMMA ** sum(1 for m in self.milestones if m <= epoch)
        if self.kind == "cosine-annealing":
            return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
        return official_cosine(epoch, epochs)


def official_cosine(epoch: int, epochs: int) -> float:
    """InfLoRA's cosine: never reaches zero (last epoch at ~0.016 of the base rate)."""
    if epochs <= 1:
        return 1.0
    return math.cos(99.0 * math.pi * epoch / (200.0 * (epochs - 1)))


def parse_schedule(text: str) -> Schedule:
    """``"cosine"``, ``"cosine-annealing"`` or ``"multistep:4"`` / ``"multistep:18,30"`` -> Schedule;
    anything else is a one-line ConfigError naming the accepted forms."""
    if text in ("cosine", "cosine-annealing"):
        return Schedule(text)
    head, _, tail = text.partition(":")
    if head == "multistep" and tail:
        try:
            milestones = tuple(int(part) for part in tail.split(","))
        except ValueError:
            milestones = ()
        if milestones and all(m >= 1 for m in milestones) and list(milestones) == sorted(set(milestones)):
            return Schedule("multistep", milestones)
    raise ConfigError(f"--schedule {text!r} is not a schedule: use {' | '.join(NAMES)} "
                      "(milestones: increasing 0-based epochs >= 1, e.g. multistep:4)")
