"""Latency/throughput benchmark of one backend on synthetic inputs.

After ``warmup`` untimed runs (lazy allocations, kernel autotuning, caches), each of ``iters``
runs of a fixed (batch, C, H, W) uniform[0,1) input is timed with ``perf_counter``.
Reported: p50/p95/p99/mean latency per batch in ms (linear-interpolated percentiles) and
throughput = batch * iters / total timed seconds (images per second).

The roofline (:func:`with_roofline`): the model's FLOPs per call (:func:`model_flops`, from ONNX
Runtime's profile of the file), the FLOP rate reached at the median latency, and its fraction of
this machine's GEMM peak measured by :mod:`.gemm_probe` in the same process at the same threads
and precision: how close the file runs to what the CPU can do.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ..backends import Backend


def latency_stats(seconds: Sequence[float], batch: int) -> dict[str, float]:
    """Percentiles (ms) and throughput (images/s) from per-iteration wall times."""
    t = np.asarray(seconds, dtype=np.float64)
    if t.size == 0 or np.any(t < 0):
        raise ValueError("need at least one non-negative timing")
    total = float(t.sum())
    return {
        "p50_ms": float(np.percentile(t, 50) * 1e3),
        "p95_ms": float(np.percentile(t, 95) * 1e3),
        "p99_ms": float(np.percentile(t, 99) * 1e3),
        "mean_ms": float(t.mean() * 1e3),
        "throughput_ips": float(batch * t.size / total) if total > 0 else float("inf"),
    }


def benchmark(backend: Backend, sample_shape: Sequence[int], batch: int = 1, iters: int = 100,
              warmup: int = 10, seed: int = 0) -> dict[str, Any]:
    """Time ``backend.run`` on a (batch, *sample_shape) input; returns stats + settings."""
    if batch < 1 or iters < 1 or warmup < 0:
        raise ValueError(f"need batch >= 1, iters >= 1, warmup >= 0 (got {batch}, {iters}, {warmup})")
    x = np.random.default_rng(seed).random((batch, *sample_shape), dtype=np.float32)
    for _ in range(warmup):
        backend.run(x)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        backend.run(x)
        times.append(time.perf_counter() - start)
    return {"batch": batch, "iters": iters, "warmup": warmup, **latency_stats(times, batch)}


def model_flops(model: "bytes | str", sample_shape: Sequence[int], batch: int = 1) -> int | None:
    """FLOPs of one call on ``batch`` images (see :func:`model_flops_split`)."""
    split = model_flops_split(model, sample_shape, batch)
    return None if split is None else sum(split.values())


def model_flops_split(model: "bytes | str", sample_shape: Sequence[int], batch: int = 1) -> dict[str, int] | None:
    """``{"int8", "float"}`` FLOPs of one call on ``batch`` images: ONNX Runtime's profile of a
    batch-1 call (on CPU), times ``batch`` (every op of these ViTs is linear in the batch). None
    without ONNX Runtime or when the file does not run on its CPU provider."""
    try:
        from .roofline import flops_by_precision, profile_model

        x = np.full((1, *sample_shape), 0.5, dtype=np.float32)
        split = flops_by_precision(profile_model(model, x, threads=1, runs=1)["ops"])
        return {k: v * batch for k, v in split.items()}
    except Exception:  # noqa: BLE001 - no roofline is a missing column, never a failed benchmark
        return None


def with_roofline(stats: dict[str, Any], flops: int | None, peak: dict[str, float] | None) -> dict[str, Any]:
    """``stats`` plus the roofline at the median latency: ``gflop`` per call, achieved ``gflops``,
    ``peak_gflops`` (the GEMM probe's) and ``peak_fraction`` (None where unknown)."""
    from .roofline import roofline

    unknown = {"float_peak_gflops": None, "roofline_fraction": None}  # filled where both peaks are probed
    if flops is None:
        return {**stats, "gflop": None, "gflops": None, "peak_gflops": None, "peak_fraction": None, **unknown}
    return {**stats, **roofline(flops, stats["p50_ms"] / 1e3, peak["gflops"] if peak else None), **unknown}
