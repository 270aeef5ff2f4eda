"""One InfLoRA (or SeqLoRA) task, data-agnostic.

Order of a task t (0-based) of T, as in the official code:
1. statistics pass over the task's training set (training augmentation) through the current model
   (every earlier task merged in, new branch absent = zero): C_b per block;
2. D_b = design_branch(C_b, memory_b, r); U_k, U_v = 0; a new linear head for the task's classes;
3. train U_k, U_v and the head with cross-entropy over the task's own logits (targets shifted),
   backbone in eval mode, Adam, lr_e = lr * cos(99 pi e / (200 (E - 1))) per epoch (the other
   official recipes: SGD with a separate head rate and a cosine-annealing or multistep schedule,
   :mod:`edgecl.learning.optimiser`, :mod:`edgecl.learning.schedule`);
4. merge U D into qkv (exact, refuses non-finite), fold the head under the old ones;
5. statistics pass again on the trained model; memory_b <- memory_b.update(C_b, eps_t).
SeqLoRA (baseline): D random and trained, no statistics, no projection, no memory.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from edgecl.config import RunConfig, task_seed
from edgecl.vit.classifier import IncrementalClassifier
from edgecl.learning.distributed import all_reduce_sum_
from edgecl.learning.optimiser import make_optimiser, set_epoch_rates
from edgecl.learning.schedule import official_cosine, parse_schedule
from edgecl.inflora import Adapter, SubspaceMemory, design_branch, merge_adapter, recording, threshold_for_task
from edgecl.inflora.factors import branch_factors

Batches = Iterable[tuple[Tensor, Tensor]]
Wrap = Callable[[str, Batches], Iterator[tuple[Tensor, Tensor]]]


def _plain(_: str, batches: Batches) -> Iterator[tuple[Tensor, Tensor]]:
    yield from batches


@dataclass(frozen=True)
class Training:
    """Where and how a task trains, never part of the run: the device, the autocast of the
    training forward ("none" | "bf16", CUDA) and the progress wrapper ``wrap(phase, batches)``
    (None: no progress display)."""

    device: torch.device
    amp: str = "none"
    wrap: Wrap | None = None


@dataclass(frozen=True)
class TaskData:
    """Task ``index`` (0-based) of the stream: its new classes and its two kinds of passes, the
    statistics pass (fixed augmentation) and the training epochs (``train_batches(epoch)``)."""

    index: int
    num_classes: int
    stats_batches: Callable[[], Batches]
    train_batches: Callable[[int], Batches]


@dataclass
class TaskOutcome:
    memories: list[SubspaceMemory]
    seconds: dict[str, float] = field(default_factory=dict)
    interference: list[float] = field(default_factory=list)  # per block ||dW P_old|| / ||dW||
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    designs: list[Tensor] = field(default_factory=list)
    adapter: Adapter | None = None  # still attached when learn_task(merge=False)
    factors: dict[str, Tensor] = field(default_factory=dict)  # D, U_k, U_v per block (branch.safetensors)


def lr_at_epoch(lr: float, epoch: int, epochs: int) -> float:
    """The official schedule: a cosine that only falls to lr * cos(99 pi / 200) ~ 0.016 lr."""
    return lr * official_cosine(epoch, epochs)


@torch.no_grad()
def second_moments(clf: IncrementalClassifier, batches: Batches, num_blocks: int | None,
                   device: torch.device, wrap: Wrap = _plain, phase: str = "statistics") -> list[Tensor]:
    """C_b = mean over images and tokens of x x^T at every hooked block (float64)."""
    clf.eval()
    with recording(clf.vit, num_blocks) as moments:
        for images, _ in wrap(phase, batches):
            clf.vit.forward_features(clf.normalize(images.to(device)))
    moments.all_reduce(all_reduce_sum_)  # no-op in a single process
    return moments.means()


def interference(adapter: Adapter, memories: list[SubspaceMemory]) -> list[float]:
    """||dW P_old||_F / ||dW||_F per block: 0 means the task left old inputs' K and V untouched."""
    out = []
    for delta, mem in zip(adapter.weight_deltas(), memories):
        norm = float(delta.norm())
        if mem.old_space_dim == 0 or norm == 0.0:
            out.append(0.0)
            continue
        out.append(float((delta.cpu() @ mem.old_space_projector()).norm()) / norm)
    return out


class _Step(nn.Module):
    """The trained path as one module, so DDP can synchronise its (branch + head) gradients."""

    def __init__(self, clf: IncrementalClassifier, adapter: Adapter, head: nn.Linear) -> None:
        super().__init__()
        self.clf, self.adapter, self.head = clf, adapter, head

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.clf.features(images))


def shard_loss(logits: Tensor, targets: Tensor, global_count: int, world: int) -> tuple[Tensor, float]:
    """One rank's loss for one step, and the sum of its images' cross-entropies (for the epoch mean).

    DDP averages the ranks' gradients, so rank r backpropagates ``world / N * sum_{i in shard r} CE_i``
    with N the images of the global batch over all ranks: the average over the ``world`` ranks is then
    the gradient of ``1/N sum_i CE_i``, the global batch's mean loss, whatever the shares (55 + 54, or
    1 + 0). An empty shard gives a zero sum that is still a function of the parameters, so that rank
    backpropagates zeros and joins DDP's all-reduce instead of a NaN mean over no images.
    One process (``world`` 1): the plain mean, bit for bit as before.
    """
    if world == 1:
        loss = nn.functional.cross_entropy(logits, targets)
        return loss, float(loss.detach()) * len(targets)
    total = nn.functional.cross_entropy(logits, targets, reduction="sum")
    return total * (world / max(global_count, 1)), float(total.detach())


def _global_sum(values: list[float], dtype: torch.dtype) -> list[float]:
    """Element-wise sum of ``values`` over the ranks (exact for counts)."""
    return all_reduce_sum_(torch.tensor(values, dtype=dtype)).tolist()


def _train(step: _Step, train_batches: Callable[[int], Batches], config: RunConfig, training: Training) -> list[float]:
    """Train the branch and the new head of ``step`` for ``config.epochs`` epochs; the mean loss per epoch.

    The optimiser and its per-epoch rates come from the run's config (``optimizer``, ``lr``,
    ``head_lr``, ``weight_decay``, ``schedule``); targets are shifted by the old classes' count.
    """
    clf, adapter, head, device = step.clf, step.adapter, step.head, training.device
    offset = clf.num_old_classes
    module: nn.Module = step
    world = 1
    if torch.distributed.is_initialized():
        world = torch.distributed.get_world_size()
        module = nn.parallel.DistributedDataParallel(step, device_ids=[device] if device.type == "cuda" else None)
    optimiser = make_optimiser(config.optimizer, adapter.trainable_parameters(), head.parameters(),
                               config.lr, config.head_lr, config.weight_decay)
    schedule = parse_schedule(config.schedule)
    losses = []
    clf.eval()  # backbone in eval mode: no dropout / drop-path while adapting
    for epoch in range(config.epochs):
        set_epoch_rates(optimiser, schedule, epoch, config.epochs)
        total, count = 0.0, 0
        for images, labels in (training.wrap or _plain)(f"epoch {epoch + 1}/{config.epochs}", train_batches(epoch)):
            images, labels = images.to(device), labels.to(device)
            # images in this step's global batch, over every rank (shares may differ by one, or be empty)
            batch_count = len(labels) if world == 1 else int(_global_sum([len(labels)], torch.int64)[0])
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=training.amp == "bf16"):
                logits = module(images).float()
            loss, summed = shard_loss(logits, labels - offset, batch_count, world)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += summed
            count += len(labels)
        if world > 1:  # every rank's images: the epoch's mean over the whole task, as in one process
            total, count = _global_sum([total, count], torch.float64)
        losses.append(total / max(count, 1))
    return losses


def learn_task(clf: IncrementalClassifier, memories: list[SubspaceMemory], task: TaskData, config: RunConfig,
               training: Training, merge: bool = True) -> TaskOutcome:
    """Learn ``task`` in place on ``clf`` with the run's ``config``; returns the new memories and timings.

    What the task uses of the config: ``method``, ``rank``, ``blocks``, ``seed``, ``lam`` and
    ``tasks`` (the threshold schedule), and the trainer options (:func:`_train`); the config was
    checked when it entered, so nothing is checked again here.
    ``merge=False`` keeps the branch hooked on the model (the official code's way: every task's
    branch summed at every forward pass); it exists to prove that merging changes nothing.
    """
    inflora = config.method == "inflora"
    device, wrap = training.device, training.wrap or _plain
    for p in clf.parameters():
        p.requires_grad_(False)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    designs = None
    if inflora:
        moments = second_moments(clf, task.stats_batches(), config.blocks, device, wrap)
        designs = [design_branch(c, m, config.rank) for c, m in zip(moments, memories)]
    seconds["statistics"] = time.perf_counter() - start

    torch.manual_seed(task_seed(config.seed, task.index))  # head init and SeqLoRA's random D
    adapter = Adapter(clf.vit, config.rank, designs, config.blocks, train_design=not inflora).to(device)
    head = clf.add_head(task.num_classes)
    start = time.perf_counter()
    losses = _train(_Step(clf, adapter, head), task.train_batches, config, training)
    seconds["training"] = time.perf_counter() - start

    start = time.perf_counter()
    measured = interference(adapter, memories)
    factors = branch_factors(adapter)  # before merging: the update package ships these
    if merge:
        merge_adapter(clf.vit, adapter)
    clf.fold_head()
    new_memories = memories
    if inflora:
        eps = threshold_for_task(task.index, config.tasks, config.lam)
        moments = second_moments(clf, task.stats_batches(), config.blocks, device, wrap, "memory")
        new_memories = [m.update(c, eps) for m, c in zip(memories, moments)]
    seconds["memory_update"] = time.perf_counter() - start
    return TaskOutcome(new_memories, seconds, measured, losses, designs or [], None if merge else adapter, factors)
