"""A task's branch factors as flat tensors: what ``task-NN/branch.safetensors`` holds.

For every hooked block b: ``blocks.<b>.D`` (r x d, designed for InfLoRA, trained for SeqLoRA),
``blocks.<b>.U_k`` and ``blocks.<b>.U_v`` (d x r), float32, copied off the adapter before it is
merged. With task N-1's stored weights they determine task N's qkv weights exactly
(:func:`edgecl_runtime.update.math.reconstruct_qkv`), which is what an over-the-air update ships.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from edgecl.inflora.branch import Adapter
from edgecl_runtime.update.math import factor_key

BRANCH_FILE = "branch.safetensors"


@torch.no_grad()
def branch_factors(adapter: Adapter) -> dict[str, Tensor]:
    """{blocks.<b>.D | U_k | U_v: float32 CPU tensor} of every branch of ``adapter``."""
    out: dict[str, Tensor] = {}
    for b, branch in enumerate(adapter.branches):
        out[factor_key(b, "D")] = branch.down.detach().float().cpu().clone()
        out[factor_key(b, "U_k")] = branch.up_k.detach().float().cpu().clone()
        out[factor_key(b, "U_v")] = branch.up_v.detach().float().cpu().clone()
    return out


def factors_numpy(factors: dict[str, Tensor]) -> dict[str, np.ndarray]:
    """The same factors as float32 numpy arrays (the form the reconstruction routine takes)."""
    return {k: v.detach().float().cpu().numpy() for k, v in factors.items()}
