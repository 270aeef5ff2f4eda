"""Multi-process learning with PyTorch's own stack (torchrun + torch.distributed + DDP).

Equivalence with one process is the design goal, so a run may move between 1 and N GPUs:
- each global batch of B images (the same permutation as a single process) is split across the
  W ranks, rank r taking every W-th image of it (DistributedSampler's striding, applied per global
  batch so the global batch composition is exactly the single-process one);
- DDP averages the gradients of the trainable branch and head parameters; each rank's loss is its
  shard's summed cross-entropy times W / (images in the global batch), so the average is exactly the
  gradient of the mean loss over the global batch even when the shares differ (B not a multiple
  of W) or a rank's share of the last batch is empty (learner.shard_loss);
- the statistics pass sums x x^T and the token count on every rank and all-reduces both, so every
  rank designs the same D_t from the same C and updates the same memory (the official code loses
  these statistics under DataParallel);
- only rank 0 writes the run store, evaluates, exports and prints.
With augmentation each rank draws its own augmentations, so a distributed run is then equivalent
in distribution, not bit for bit; with ``--augment none`` it matches to float rounding.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device: torch.device) -> DistContext:
    """Join the process group torchrun describes in the environment (no-op for one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return DistContext(dist.get_rank(), dist.get_world_size())


def local_device(device: torch.device) -> torch.device:
    """cuda:LOCAL_RANK under torchrun, else the device as given."""
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks (a copy travels through the backend's device when needed)."""
    if not dist.is_initialized():
        return tensor
    if dist.get_backend() == "nccl" and tensor.device.type != "cuda":
        moved = tensor.cuda()
        dist.all_reduce(moved)
        tensor.copy_(moved.cpu())
    else:
        dist.all_reduce(tensor)
    return tensor



def broadcast_plan(plan: list[int] | None, ctx: DistContext) -> list[int] | None:
    """Rank 0's list of tasks (None = stop) to every rank, as int64 tensors (no pickling)."""
    if not ctx.active:
        return plan
    device = torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")
    length = torch.tensor([-1 if plan is None else len(plan)], dtype=torch.int64, device=device)
    dist.broadcast(length, 0)
    if int(length) < 0:
        return None
    values = torch.tensor(plan if plan is not None else [0] * int(length), dtype=torch.int64, device=device)
    if int(length):
        dist.broadcast(values, 0)
    return [int(v) for v in values.cpu()]
