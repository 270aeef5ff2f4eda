"""The qkv reconstruction contract, pinned by exact float64 cases rather than by a second caller.

Training and the device both call ``reconstruct_qkv``, so a change to it changes both sides at
once and byte comparisons between them still agree. These cases pin the contract itself: float32
factors, exact float64 products, float64 additions of the rank-1 terms in index order starting
from W, one rounding to float32 at the end. Each case uses powers of two, so the expected value is
known exactly and any other order or precision gives different bytes.
"""
from __future__ import annotations

import numpy as np
import pytest

from edgecl_runtime.update.math import apply_factors, factor_key, reconstruct_qkv

F32 = np.float32


def _one_block(w_k: float, up: list[float], down: list[float]) -> float:
    """The reconstructed K entry of a 1-wide block whose W is [0; w_k; 0] and U_k = U_v = up."""
    weight = np.array([[0.0], [w_k], [0.0]], dtype=F32)
    d = np.array([[x] for x in down], dtype=F32)
    u = np.array([up], dtype=F32)
    out = reconstruct_qkv(weight, d, u, u)
    assert out.dtype == np.float32
    return float(out[1, 0])


def test_products_are_exact_in_float64_not_rounded_to_float32():
    # (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 needs 25 bits; plus W = 2^-24 the exact sum is
    # 1 + 2^-11 + 2^-23, which float32 holds. A float32 product loses the 2^-24 first.
    a = 1 + 2.0 ** -12
    assert _one_block(2.0 ** -24, [a], [a]) == 1 + 2.0 ** -11 + 2.0 ** -23


def test_the_accumulator_is_float64():
    # 1 + 2^-24 + 2^-24 = 1 + 2^-23 exactly in float64; a float32 accumulator rounds each
    # addition back to 1 (ties to even).
    t = 2.0 ** -12
    assert _one_block(1.0, [t, t], [t, t]) == 1 + 2.0 ** -23


def test_rank_one_terms_are_added_in_index_order():
    # W = 1, term 0 = 2^-53, term 1 = -1: (1 + 2^-53) rounds to 1, minus 1 gives 0.
    # The reverse order gives (1 - 1) + 2^-53 = 2^-53.
    assert _one_block(1.0, [2.0 ** -27, -1.0], [2.0 ** -26, 1.0]) == 0.0
    assert _one_block(1.0, [-1.0, 2.0 ** -27], [1.0, 2.0 ** -26]) == 2.0 ** -53


def test_q_rows_are_never_touched_and_v_uses_its_own_factor():
    w = np.arange(12, dtype=F32).reshape(6, 2) / 8
    d = np.array([[1.0, 2.0]], dtype=F32)
    up_k, up_v = np.array([[1.0], [0.0]], dtype=F32), np.array([[0.0], [0.5]], dtype=F32)
    out = reconstruct_qkv(w, d, up_k, up_v)
    assert out[:2].tobytes() == w[:2].tobytes()
    np.testing.assert_array_equal(out[2:4], w[2:4] + up_k @ d)
    np.testing.assert_array_equal(out[4:], w[4:] + up_v @ d)


def _reference(w: np.ndarray, d: np.ndarray, up: np.ndarray) -> np.ndarray:
    """The contract in plain Python floats (IEEE double), written independently of numpy ufuncs."""
    rows, cols = up.shape[0], d.shape[1]
    out = np.empty((rows, cols), dtype=F32)
    for i in range(rows):
        for col in range(cols):
            acc = float(w[i, col])
            for j in range(d.shape[0]):
                acc = acc + float(up[i, j]) * float(d[j, col])
            out[i, col] = F32(acc)
    return out


def test_random_factors_match_the_plain_python_contract_byte_for_byte():
    rng = np.random.default_rng(7)
    dim, rank = 6, 4
    w = rng.standard_normal((3 * dim, dim)).astype(F32)
    d = rng.standard_normal((rank, dim)).astype(F32)
    up_k = (rng.standard_normal((dim, rank)) * 1e-3).astype(F32)
    up_v = (rng.standard_normal((dim, rank)) * 1e3).astype(F32)
    out = reconstruct_qkv(w, d, up_k, up_v)
    assert out[dim:2 * dim].tobytes() == _reference(w[dim:2 * dim], d, up_k).tobytes()
    assert out[2 * dim:].tobytes() == _reference(w[2 * dim:], d, up_v).tobytes()


def test_non_float32_factors_shapes_and_overflow_are_refused():
    w = np.zeros((3, 1), dtype=F32)
    ok = np.ones((1, 1), dtype=F32)
    with pytest.raises(ValueError, match="float32"):
        reconstruct_qkv(w, ok.astype(np.float64), ok, ok)
    with pytest.raises(ValueError, match="another model"):
        reconstruct_qkv(np.zeros((4, 1), dtype=F32), ok, ok, ok)
    big = np.full((1, 1), 3e38, dtype=F32)
    with pytest.raises(ValueError, match="not finite"):
        reconstruct_qkv(w, big, big, big)


def test_apply_factors_covers_every_block_and_refuses_gaps():
    w = {0: np.zeros((3, 1), dtype=F32), 1: np.ones((3, 1), dtype=F32)}
    one = np.ones((1, 1), dtype=F32)
    factors = {factor_key(b, n): one for b in (0, 1) for n in ("D", "U_k", "U_v")}
    out = apply_factors(w, factors)
    assert out[0][1, 0] == 1.0 and out[1][1, 0] == 2.0 and out[1][0, 0] == 1.0
    del factors[factor_key(1, "U_v")]
    with pytest.raises(ValueError, match="lack"):
        apply_factors(w, factors)
