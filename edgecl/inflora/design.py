"""Design of a task's frozen down-projection D_t (the InfLoRA "designed" matrix).

D_t = (top-r left singular vectors of C_hat)^T / sqrt(3), with C_hat the new task's second
moment projected away from the old tasks' input space (one-sided, before the SVD):
- ``remove`` memory (F spans the old space):     C_hat = C - F F^T C
- ``retain`` memory (F spans the complement):   C_hat = F F^T C
Every row of D_t then lies in the complement of the old space, so any trained U_t gives a weight
change U_t D_t that maps old inputs to zero: the new task cannot interfere with old ones.

The 1/sqrt(3) scale is the official code's. When C_hat has fewer than r non-zero singular values
the trailing singular vectors are arbitrary; we project them onto the allowed subspace as well, a
no-op for the meaningful directions that guarantees the orthogonality for the others.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from edgecl.inflora.memory import REMOVE, SubspaceMemory


def project_away_old(mat: Tensor, memory: SubspaceMemory) -> Tensor:
    """(I - P_old) @ mat, computed from whichever basis the memory stores."""
    f = memory.basis.to(mat.dtype)
    if memory.is_empty:
        return mat
    if memory.kind == REMOVE:
        return mat - f @ (f.T @ mat)
    return f @ (f.T @ mat)


def design_branch(second_moment: Tensor, memory: SubspaceMemory, rank: int) -> Tensor:
    """Frozen D_t of shape (rank, d), float32, orthogonal to ``memory``'s old space."""
    c = second_moment.double()
    d = c.shape[0]
    if c.shape != (d, d) or d != memory.dim:
        raise ValueError(f"second moment {tuple(c.shape)} does not match memory dim {memory.dim}")
    if not 1 <= rank <= d:
        raise ValueError(f"rank must be in [1, {d}], got {rank}")
    u, _, _ = torch.linalg.svd(project_away_old(c, memory))
    rows = project_away_old(u[:, :rank], memory).T / math.sqrt(3.0)
    return rows.float().contiguous()
