"""learn keeps each task's branch factors, and the merged weights are exactly the
device's reconstruction routine applied to the previous weights and those factors."""
import numpy as np
import pytest
import torch

from edgecl.inflora import Adapter, MergeError, merge_adapter
from edgecl.inflora.factors import branch_factors, factors_numpy
from edgecl_runtime.update.math import apply_factors, factor_key, reconstruct_qkv
from tests.factory import tiny_vit


def random_adapter(model, seed=0, rank=3):
    adapter = Adapter(model, rank=rank)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapter.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return adapter


def test_merge_is_the_reconstruction_routine_bit_for_bit():
    model = tiny_vit(num_classes=3).eval()
    before = {i: b.attn.qkv.weight.detach().numpy().copy() for i, b in enumerate(model.blocks)}
    adapter = random_adapter(model)
    factors = factors_numpy(branch_factors(adapter))
    merge_adapter(model, adapter)
    rebuilt = apply_factors(before, factors)
    for i, block in enumerate(model.blocks):
        merged = block.attn.qkv.weight.detach().numpy()
        assert merged.tobytes() == rebuilt[i].tobytes()
        assert not np.array_equal(merged, before[i])


def test_reconstruction_matches_exact_float64_and_leaves_q_rows():
    rng = np.random.default_rng(0)
    d, r = 16, 4
    w = rng.standard_normal((3 * d, d)).astype(np.float32)
    down, uk, uv = (rng.standard_normal(s).astype(np.float32) for s in ((r, d), (d, r), (d, r)))
    out = reconstruct_qkv(w, down, uk, uv)
    ref = w.astype(np.float64) + np.concatenate([np.zeros((d, d)), uk.astype(np.float64) @ down,
                                                 uv.astype(np.float64) @ down])
    assert out.dtype == np.float32 and np.array_equal(out[:d], w[:d])
    assert np.max(np.abs(out - ref)) <= np.max(np.abs(ref)) * 2.0**-23  # one float32 rounding at most


def test_reconstruction_does_not_depend_on_memory_layout_or_repeats():
    rng = np.random.default_rng(1)
    d, r = 24, 5
    w = rng.standard_normal((3 * d, d)).astype(np.float32)
    down, uk, uv = (rng.standard_normal(s).astype(np.float32) for s in ((r, d), (d, r), (d, r)))
    first = reconstruct_qkv(w, down, uk, uv).tobytes()
    fortran = reconstruct_qkv(np.asfortranarray(w), np.asfortranarray(down), np.asfortranarray(uk), uv)
    assert fortran.tobytes() == first and reconstruct_qkv(w, down, uk, uv).tobytes() == first


@pytest.mark.parametrize("bad", ["shape", "dtype", "nan"])
def test_reconstruction_refuses_bad_factors(bad):
    d, r = 8, 2
    w = np.zeros((3 * d, d), np.float32)
    down, uk, uv = np.ones((r, d), np.float32), np.ones((d, r), np.float32), np.ones((d, r), np.float32)
    if bad == "shape":
        down = np.ones((r, d + 1), np.float32)
    elif bad == "dtype":
        uk = uk.astype(np.float64)
    else:
        uv = np.full((d, r), np.inf, np.float32)
    with pytest.raises(ValueError):
        reconstruct_qkv(w, down, uk, uv)


def test_non_finite_branch_is_refused_by_merge():
    model = tiny_vit(num_classes=3).eval()
    adapter = random_adapter(model)
    with torch.no_grad():
        adapter.branches[0].up_k.fill_(3e38)
        adapter.branches[0].down.fill_(3e38)
    with pytest.raises(MergeError):
        merge_adapter(model, adapter)


def test_factor_keys_cover_every_block():
    model = tiny_vit(num_classes=3).eval()
    factors = branch_factors(random_adapter(model, rank=2))
    assert set(factors) == {factor_key(b, n) for b in range(2) for n in ("D", "U_k", "U_v")}
    assert factors[factor_key(0, "D")].shape == (2, 32) and factors[factor_key(1, "U_v")].shape == (32, 2)
    assert all(t.dtype == torch.float32 for t in factors.values())


@pytest.mark.parametrize("method", ["inflora", "seqlora"])
def test_learn_task_returns_the_factors_it_merged(method):
    from tests.learning.test_learning import run_tasks

    clf, _, history = run_tasks(2, method=method)
    afters = [history[1][0], [b.attn.qkv.weight.detach() for b in clf.vit.blocks]]
    for (before, _, outcome), after in zip(history, afters):
        factors = factors_numpy(outcome.factors)
        rebuilt = apply_factors({i: w.numpy() for i, w in enumerate(before)}, factors)
        for i in rebuilt:
            assert rebuilt[i].tobytes() == after[i].numpy().tobytes()
            assert np.abs(factors[factor_key(i, "U_k")]).max() > 0  # trained
    if method == "inflora":  # D is the designed one
        assert torch.equal(history[1][2].factors[factor_key(0, "D")], history[1][2].designs[0])


def test_reconstruction_is_the_same_bytes_whatever_the_thread_settings():
    import hashlib
    import os
    import subprocess
    import sys

    code = ("import hashlib, numpy as np; from edgecl_runtime.update.math import reconstruct_qkv; "
            "r = np.random.default_rng(5); d, k = 64, 10; "
            "w = r.standard_normal((3 * d, d)).astype(np.float32); "
            "f = [r.standard_normal(s).astype(np.float32) for s in ((k, d), (d, k), (d, k))]; "
            "print(hashlib.sha256(reconstruct_qkv(w, *f).tobytes()).hexdigest())")
    digests = set()
    for threads in ("1", "2", "8"):
        env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        digests.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   check=True).stdout.strip())
    rng = np.random.default_rng(5)
    w = rng.standard_normal((192, 64)).astype(np.float32)
    factors = [rng.standard_normal(s).astype(np.float32) for s in ((10, 64), (64, 10), (64, 10))]
    digests.add(hashlib.sha256(reconstruct_qkv(w, *factors).tobytes()).hexdigest())
    assert len(digests) == 1
