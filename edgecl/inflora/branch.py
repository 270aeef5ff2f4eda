"""Low-rank K/V branches attached to a timm ViT from the outside (forward hooks).

For block b and task t the fused qkv output [q | k | v] becomes
    [q | k + U_k D x | v + U_v D x],
with D (r x d) shared by K and V and U_k, U_v (d x r) starting at zero. No alpha/r scaling.
Hooks keep the timm parameter names untouched, so the merged model is a plain timm ViT.

InfLoRA: D is designed (frozen). SeqLoRA baseline: D is random and trained too.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn


def qkv_layers(model: nn.Module, num_blocks: int | None = None) -> list[nn.Linear]:
    """The fused qkv Linear of the first ``num_blocks`` blocks (all when None)."""
    blocks = list(model.blocks)
    if num_blocks is not None:
        if not 1 <= num_blocks <= len(blocks):
            raise ValueError(f"--blocks must be in [1, {len(blocks)}], got {num_blocks}")
        blocks = blocks[:num_blocks]
    return [blk.attn.qkv for blk in blocks]


class KVBranch(nn.Module):
    """One block's branch: delta_k = U_k D x, delta_v = U_v D x."""

    def __init__(self, dim: int, rank: int, design: Tensor | None = None, train_design: bool = False) -> None:
        super().__init__()
        if design is None:
            design = torch.empty(rank, dim)
            nn.init.kaiming_uniform_(design, a=math.sqrt(5))
        if design.shape != (rank, dim):
            raise ValueError(f"design has shape {tuple(design.shape)}, expected {(rank, dim)}")
        self.down = nn.Parameter(design.detach().clone().float(), requires_grad=train_design)
        self.up_k = nn.Parameter(torch.zeros(dim, rank))
        self.up_v = nn.Parameter(torch.zeros(dim, rank))

    def qkv_delta(self, x: Tensor) -> Tensor:
        """[0 | U_k D x | U_v D x] for tokens x (..., d) -> (..., 3d)."""
        z = x @ self.down.T
        kv = torch.cat([z @ self.up_k.T, z @ self.up_v.T], dim=-1)
        return nn.functional.pad(kv, (self.down.shape[1], 0))

    def weight_delta(self) -> Tensor:
        """The (3d x d) float64 change of qkv.weight this branch is equivalent to."""
        d = self.down.double()
        zeros = torch.zeros(d.shape[1], d.shape[1], dtype=torch.float64)
        return torch.cat([zeros, self.up_k.double() @ d, self.up_v.double() @ d], dim=0)


def _hook(branch: KVBranch):
    def add_branch(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
        return output + branch.qkv_delta(inputs[0])

    return add_branch


class Adapter(nn.Module):
    """All branches of one task, hooked onto the model's qkv layers until merged or removed."""

    def __init__(self, model: nn.Module, rank: int, designs: Sequence[Tensor] | None = None,
                 num_blocks: int | None = None, train_design: bool = False) -> None:
        super().__init__()
        layers = qkv_layers(model, num_blocks)
        if designs is not None and len(designs) != len(layers):
            raise ValueError(f"{len(designs)} designs for {len(layers)} blocks")
        dim = layers[0].in_features
        self.branches = nn.ModuleList(
            KVBranch(dim, rank, None if designs is None else designs[i], train_design)
            for i in range(len(layers))
        )
        self._handles = [layer.register_forward_hook(_hook(b)) for layer, b in zip(layers, self.branches)]
        self.merged = False

    def detach(self) -> None:
        """Remove the hooks (the branches stop acting on the model)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    @torch.no_grad()
    def weight_deltas(self) -> list[Tensor]:
        return [b.weight_delta() for b in self.branches]
