"""Folding trained branches into qkv weights, as a pure state-dict function.

W'_qkv = W_qkv + [0; U_k D; U_v D]: the products are taken in float64 and the sum is rounded to
float32 once, so merging is as exact as float32 storage allows. A non-finite result is refused
before anything is written, so a diverged task never corrupts the stored model.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from edgecl.inflora.branch import Adapter

QKV_KEY = "blocks.{}.attn.qkv.weight"


class MergeError(RuntimeError):
    """A merge that would corrupt the model (non-finite weights, merging twice)."""


def merge_state_dict(state: Mapping[str, Tensor], deltas: Sequence[Tensor]) -> dict[str, Tensor]:
    """A new state dict with ``deltas[i]`` (3d x d) added to block i's qkv weight."""
    merged = dict(state)
    for i, delta in enumerate(deltas):
        key = QKV_KEY.format(i)
        if key not in state:
            raise KeyError(f"state dict has no {key}: not a timm VisionTransformer")
        weight = state[key]
        if delta.shape != weight.shape:
            raise ValueError(f"{key}: delta {tuple(delta.shape)} vs weight {tuple(weight.shape)}")
        new = (weight.double() + delta.double().to(weight.device)).to(weight.dtype)
        if not torch.isfinite(new).all():
            raise MergeError(f"merging block {i} gives non-finite weights: the task diverged; lower --lr and relearn it")
        merged[key] = new
    return merged


def merge_adapter(model: nn.Module, adapter: Adapter) -> None:
    """Fold ``adapter`` into ``model`` in place and detach it; refuses a second merge."""
    if adapter.merged:
        raise MergeError("this branch is already merged into the model; merging twice would add it twice")
    for p in adapter.parameters():
        if not torch.isfinite(p).all():
            raise MergeError("branch weights are non-finite: the task diverged; lower --lr and relearn it")
    keys = [QKV_KEY.format(i) for i in range(len(adapter.branches))]
    state = {k: v for k, v in model.state_dict().items() if k in keys}
    merged = merge_state_dict(state, adapter.weight_deltas())
    with torch.no_grad():
        for i, key in enumerate(keys):
            model.blocks[i].attn.qkv.weight.copy_(merged[key])
    adapter.detach()
    adapter.merged = True
