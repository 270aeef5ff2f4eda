"""DualGPM subspace memory of one attention block (the input space of old tasks).

Math. Let C be a block's uncentred second moment of the qkv-input tokens (d x d, PSD). Its
singular values are the *squared* singular values of the raw token matrix, so "energy" measured
on C is sigma^4 of the tokens; the official InfLoRA code thresholds that quantity and so do we.

The memory keeps an orthonormal basis F (d x k) and a kind:
- ``remove``: F spans the old tasks' input space (old-space dim = k);
- ``retain``: F spans its orthogonal complement (old-space dim = d - k).
Storing whichever side is smaller keeps the projections cheap; a ``remove`` memory whose
dimension passes d/2 flips to ``retain`` and never flips back.

Update rule for a threshold eps (official DualGPM, with the first-task complement bug fixed):
- empty memory: k = #{cumulative energy ratios < eps}, at least 1; F = top-k left singular
  vectors of C; stored as ``remove`` if k < d/2, else as ``retain`` (the complement U[:, k:]).
- ``remove``: R = C - F F^T C; acc = (E - sum S_R^2) / E is the energy already explained by F;
  append R's singular vectors while acc < eps (the crossing vector is included).
- ``retain``: R = F F^T C; acc = sum S_R^2 / E is the energy still outside the old space;
  take R's top vectors while acc >= 1 - eps, then drop their directions from F.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

REMOVE = "remove"
RETAIN = "retain"


def _svd(mat: Tensor) -> tuple[Tensor, Tensor]:
    """Left singular vectors and singular values, in float64."""
    u, s, _ = torch.linalg.svd(mat.double(), full_matrices=True)
    return u, s


def _orthonormal_complement(basis: Tensor) -> Tensor:
    """Columns spanning the orthogonal complement of ``basis`` (from its full SVD)."""
    d, k = basis.shape
    if k == 0:
        return torch.eye(d, dtype=torch.float64)
    u, _ = _svd(basis)
    return u[:, k:].contiguous()


def _extend_orthonormal(basis: Tensor, new: Tensor) -> Tensor:
    """Append ``new`` columns to an orthonormal basis, re-orthogonalised against it.

    In exact arithmetic the new vectors are already orthogonal to ``basis`` (they are singular
    vectors of (I - F F^T) C); one Gram-Schmidt pass + QR keeps F^T F = I in floating point.
    """
    if new.shape[1] == 0:
        return basis
    new = new - basis @ (basis.T @ new)
    q, _ = torch.linalg.qr(new)
    return torch.cat([basis, q], dim=1)


@dataclass(frozen=True)
class SubspaceMemory:
    """Immutable DualGPM memory of one block; ``update`` returns a new memory."""

    basis: Tensor  # d x k, float64, orthonormal columns
    kind: str = REMOVE
    updates: int = 0  # how many task updates produced this memory

    @classmethod
    def empty(cls, dim: int) -> "SubspaceMemory":
        return cls(torch.zeros(dim, 0, dtype=torch.float64), REMOVE, 0)

    @property
    def dim(self) -> int:
        return int(self.basis.shape[0])

    @property
    def old_space_dim(self) -> int:
        k = int(self.basis.shape[1])
        return k if self.kind == REMOVE else self.dim - k

    @property
    def is_empty(self) -> bool:
        return self.updates == 0

    def old_space_projector(self) -> Tensor:
        """P_old (d x d, float64): orthogonal projector onto the old tasks' input space."""
        f = self.basis
        proj = f @ f.T
        if self.kind == REMOVE:
            return proj
        return torch.eye(self.dim, dtype=torch.float64) - proj

    def update(self, second_moment: Tensor, threshold: float) -> "SubspaceMemory":
        """Grow the old space with the part of ``second_moment`` needed to reach ``threshold``."""
        c = second_moment.double()
        if c.shape != (self.dim, self.dim):
            raise ValueError(f"second moment has shape {tuple(c.shape)}, expected {(self.dim, self.dim)}")
        if not torch.isfinite(c).all():
            raise ValueError("second moment contains NaN/Inf: check the inputs of the statistics pass")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if self.is_empty:
            new = self._first(c, threshold)
        elif self.kind == REMOVE:
            new = self._grow_remove(c, threshold)
        else:
            new = self._grow_retain(c, threshold)
        return new._maybe_flip()

    def _first(self, c: Tensor, eps: float) -> "SubspaceMemory":
        u, s = _svd(c)
        energy = s**2
        ratios = torch.cumsum(energy, 0) / energy.sum()
        k = max(int((ratios < eps).sum()), 1)
        if k < self.dim / 2:
            return SubspaceMemory(u[:, :k].contiguous(), REMOVE, 1)
        return SubspaceMemory(u[:, k:].contiguous(), RETAIN, 1)

    def _grow_remove(self, c: Tensor, eps: float) -> "SubspaceMemory":
        f = self.basis
        total = (c**2).sum()  # = sum of squared singular values of C
        u, s = _svd(c - f @ (f.T @ c))
        energy = s**2 / total
        acc = float(1.0 - energy.sum())
        take = 0
        while take < len(energy) and acc < eps:
            acc += float(energy[take])
            take += 1
        take = min(take, self.dim - f.shape[1])
        return SubspaceMemory(_extend_orthonormal(f, u[:, :take]), REMOVE, self.updates + 1)

    def _grow_retain(self, c: Tensor, eps: float) -> "SubspaceMemory":
        f = self.basis
        total = (c**2).sum()  # = sum of squared singular values of C
        u, s = _svd(f @ (f.T @ c))
        energy = s**2 / total
        acc = float(energy.sum())
        take = 0
        while take < len(energy) and acc >= 1.0 - eps:
            acc -= float(energy[take])
            take += 1
        take = min(take, f.shape[1])
        if take == 0:
            return SubspaceMemory(f, RETAIN, self.updates + 1)
        uk = u[:, :take]
        shrunk = f - uk @ (uk.T @ f)
        left, _ = _svd(shrunk)
        return SubspaceMemory(left[:, : f.shape[1] - take].contiguous(), RETAIN, self.updates + 1)

    def _maybe_flip(self) -> "SubspaceMemory":
        if self.kind == REMOVE and self.basis.shape[1] > self.dim / 2:
            return SubspaceMemory(_orthonormal_complement(self.basis), RETAIN, self.updates)
        return self

    def to_tensors(self, prefix: str) -> dict[str, Tensor]:
        """Flat tensors for safetensors; the kind is a 0-d int8 (0 remove, 1 retain)."""
        return {
            f"{prefix}.basis": self.basis.contiguous(),
            f"{prefix}.kind": torch.tensor(0 if self.kind == REMOVE else 1, dtype=torch.int8),
            f"{prefix}.updates": torch.tensor(self.updates, dtype=torch.int64),
        }

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], prefix: str) -> "SubspaceMemory":
        try:
            basis = tensors[f"{prefix}.basis"].double()
            kind = RETAIN if int(tensors[f"{prefix}.kind"]) == 1 else REMOVE
            updates = int(tensors[f"{prefix}.updates"])
        except KeyError as exc:
            raise ValueError(f"memory file lacks {exc.args[0]}: the file is not an edgecl memory") from None
        return cls(basis, kind, updates)


def threshold_for_task(task_index: int, num_tasks: int, lam: float) -> float:
    """eps_t = lambda + (1 - lambda) * t / T with t the 0-based task index (official schedule)."""
    if not 0.0 < lam <= 1.0:
        raise ValueError(f"lambda must be in (0, 1], got {lam}")
    return lam + (1.0 - lam) * task_index / num_tasks
