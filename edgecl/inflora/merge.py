"""Folding trained branches into qkv weights, as a pure state-dict function.

W'_qkv = W_qkv + [0; U_k D; U_v D]: the products are taken in float64 and the sum is rounded to
float32 once, so merging is as exact as float32 storage allows. A non-finite result is refused
before anything is written, so a diverged task never corrupts the stored model.

``merge_adapter`` (what ``learn`` uses) goes through :func:`edgecl_runtime.update.math.reconstruct_qkv`,
a fixed-order float64 sum without BLAS: the merged weights are then a bit-exact function of the
previous weights and the factors, the same one a device runs to apply an over-the-air update.
``merge_state_dict`` (arbitrary deltas) keeps torch's float64 add for callers that have no factors.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from edgecl.inflora.branch import Adapter
from edgecl.inflora.factors import branch_factors, factors_numpy
from edgecl_runtime.update.math import apply_factors

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
    merged = merge_factors({i: model.blocks[i].attn.qkv.weight for i in range(len(adapter.branches))},
                           branch_factors(adapter))
    with torch.no_grad():
        for i, weight in merged.items():
            model.blocks[i].attn.qkv.weight.copy_(weight)
    adapter.detach()
    adapter.merged = True


def merge_factors(weights: Mapping[int, Tensor], factors: Mapping[str, Tensor]) -> dict[int, Tensor]:
    """{block: fl32(W + [0; U_k D; U_v D])} through the device's reconstruction routine (bit-exact)."""
    for i, weight in weights.items():
        if weight.dtype != torch.float32:
            raise MergeError(f"block {i}'s qkv weight is {weight.dtype}: merging needs float32 weights")
    current = {i: w.detach().cpu().numpy() for i, w in weights.items()}
    try:
        merged = apply_factors(current, factors_numpy(dict(factors)))
    except ValueError as exc:
        raise MergeError(f"{exc}; the task diverged or the branch does not fit: lower --lr and relearn it") from None
    return {i: torch.from_numpy(merged[i]).to(weights[i].device) for i in weights}
