"""The one routine that turns task N-1's qkv weight and task N's branch factors into task N's.

Math. Block b's fused qkv weight W (3d x d, rows [q; k; v]) after a task with branch factors
D (r x d), U_k, U_v (d x r) is

    W' = fl32( W + [0; U_k D; U_v D] ),

evaluated in float64 and rounded to float32 once. Every factor is float32, so each product
U[i, j] * D[j, l] is exact in float64 (24 + 24 significant bits < 53); the only roundings are the
float64 additions, done here in a fixed order: for j = 0 .. r-1, acc += U[:, j] D[j, :] (element-wise
numpy ufuncs, each addition correctly rounded, never fused or reordered), starting from acc = W.
No BLAS call is involved (a float64 GEMM's summation order depends on the library, the CPU's
kernel and the thread count), so the result is the same bytes on every machine.

Training (``edgecl.inflora.merge``) merges through this function and the device rebuilds task N's
weights through it (``edgecl_runtime.update.apply``): that is why an over-the-air update can
reproduce the full export byte for byte. Torch-free, Python 3.8.
"""
from __future__ import annotations

from typing import Dict, List, Mapping

import numpy as np

FACTOR_KEYS = ("D", "U_k", "U_v")


def factor_key(block: int, name: str) -> str:
    """``blocks.<b>.<name>`` with name in D, U_k, U_v: the keys of ``branch.safetensors``."""
    return f"blocks.{block}.{name}"


def _low_rank_sum(acc: np.ndarray, up: np.ndarray, down: np.ndarray) -> None:
    """acc += up @ down in float64, one rank-1 term at a time in index order (in place)."""
    up64 = up.astype(np.float64)
    down64 = down.astype(np.float64)
    for j in range(down64.shape[0]):
        acc += up64[:, j:j + 1] * down64[j:j + 1, :]


def reconstruct_qkv(weight: np.ndarray, down: np.ndarray, up_k: np.ndarray, up_v: np.ndarray) -> np.ndarray:
    """fl32(W + [0; U_k D; U_v D]) for one block (see the module docstring); refuses bad shapes and NaN/Inf."""
    w = np.asarray(weight)
    rows, dim = w.shape if w.ndim == 2 else (0, 0)
    rank = int(np.shape(down)[0]) if np.ndim(down) == 2 else 0
    if w.dtype != np.float32 or rows != 3 * dim or np.shape(down) != (rank, dim) or rank < 1 \
            or np.shape(up_k) != (dim, rank) or np.shape(up_v) != (dim, rank):
        raise ValueError(f"qkv weight {w.shape} {w.dtype} does not fit factors D {np.shape(down)}, "
                         f"U_k {np.shape(up_k)}, U_v {np.shape(up_v)}: the update belongs to another model")
    for name, arr in (("D", down), ("U_k", up_k), ("U_v", up_v)):
        if np.asarray(arr).dtype != np.float32:
            raise ValueError(f"factor {name} is {np.asarray(arr).dtype}, expected float32")
    acc = w.astype(np.float64)
    _low_rank_sum(acc[dim:2 * dim], up_k, down)
    _low_rank_sum(acc[2 * dim:], up_v, down)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow becomes inf, refused just below
        out = acc.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError("the reconstructed qkv weight is not finite: the factors diverged")
    return out


def _blocks_in(factors: Mapping[str, np.ndarray]) -> List[int]:
    """The block indices a factor set covers (0..n-1, each with D, U_k and U_v), checked."""
    blocks = sorted({int(k.split(".")[1]) for k in factors if k.startswith("blocks.")})
    if not blocks or blocks != list(range(len(blocks))):
        raise ValueError(f"branch factors cover blocks {blocks}: expected 0..n-1")
    for b in blocks:
        for name in FACTOR_KEYS:
            if factor_key(b, name) not in factors:
                raise ValueError(f"branch factors lack {factor_key(b, name)}")
    return blocks


def apply_factors(weights: Mapping[int, np.ndarray], factors: Mapping[str, np.ndarray]) -> Dict[int, np.ndarray]:
    """{block: qkv weight} after one task: :func:`reconstruct_qkv` for every block the factors cover."""
    out = dict(weights)
    for b in _blocks_in(factors):
        if b not in weights:
            raise ValueError(f"branch factors name block {b}, which the model lacks")
        out[b] = reconstruct_qkv(weights[b], factors[factor_key(b, "D")], factors[factor_key(b, "U_k")],
                                 factors[factor_key(b, "U_v")])
    return out
