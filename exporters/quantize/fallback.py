"""Accuracy-aware INT8 fallback: when the INT8 gate fails, keep the fewest, most sensitive layers float.

Why: on a model whose logits have small margins (the bundled stream without alignment) quantisation
noise flips a few percent of the top-1 decisions although accuracy hardly moves, and the gate rightly
refuses. A few layers carry most of that noise, so keeping them in float recovers the gate while the
rest of the matrix work stays int8.

How, bounded in time (each step reuses the one calibrated graph, :mod:`.float_nodes`):

1. Sensitivity: on up to ``SENSITIVITY_IMAGES`` calibration images (training images, not the gate's
   test sets), the mean squared logit error against the FP32 graph with everything quantised, minus
   the same error with only that node kept float. One quantised node at a time: ~24 cheap runs for a
   6-block ViT.
2. Search: the k most sensitive nodes float, k = 1, 2, 4, ... until the gate passes, then bisection
   down to the smallest passing k (the gate is roughly monotone in k). k never goes past the point
   where less than half of the MatMul/Gemm FLOPs (:mod:`.flops`) would stay int8: if the gate
   still fails there, INT8 is refused (gate failed, as without the fallback).
3. Everything stops at ``max_seconds``: the best passing model so far ships, else INT8 is refused.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from edgecl_runtime.atomic_io import move_into_place, temp_dir_beside

from ..parity.gate import GateResult, ParityGate
from ..parity.ort_session import session_options
from ..parity.sources import BatchSource
from .flops import matmul_flops, quantized_fraction, quantized_nodes
from .float_nodes import keep_float
from .int8 import nonzero_zero_points
from .records import FallbackRecord, QuantFields

Runner = Callable[[np.ndarray], np.ndarray]
NodeGate = Callable[[Sequence[str]], GateResult]
SENSITIVITY_IMAGES = 256
SENSITIVITY_BYTES = 64 << 20  # cap on the images held for step 1 (224 px RGB: ~110 images)
MIN_QUANTIZED_FRACTION = 0.5
FALLBACK_SECONDS = 600.0


@dataclass(frozen=True)
class Deadline:
    """A point in time (``clock()`` units) after which a search or a ranking stops."""

    at: float = math.inf
    clock: Callable[[], float] = time.monotonic

    def passed(self) -> bool:
        return self.clock() > self.at


@dataclass(frozen=True)
class FallbackLimits:
    """A search's bounds: ``max_seconds`` in all, and at least ``min_fraction`` of MatMul/Gemm FLOPs int8."""

    max_seconds: float = FALLBACK_SECONDS
    min_fraction: float = MIN_QUANTIZED_FRACTION


@dataclass
class Search:
    """Outcome of :func:`search_float_nodes`: ``float_nodes`` and ``gate`` of the chosen model when
    ``passed``, else of the last (largest) try; ``trials`` = (k, gate result) in the order tried."""

    passed: bool
    float_nodes: list[str]
    gate: GateResult | None
    trials: list[tuple[int, GateResult]] = field(default_factory=list)
    reason: str = ""


def search_float_nodes(ranked: Sequence[str], flops: Mapping[str, int], quantized: Collection[str],
                       gate: NodeGate, *, min_fraction: float = MIN_QUANTIZED_FRACTION,
                       deadline: Deadline = Deadline()) -> Search:
    """Smallest k such that ``gate(ranked[:k])`` passes (ranked: most sensitive first).

    k doubles from 1, then bisects between the last failure and the first pass; it is capped where the
    quantised share of MatMul/Gemm FLOPs (``quantized`` minus the float prefix) would fall under
    ``min_fraction``. The all-quantised model (k = 0) is taken as already failed.
    """
    kmax = _max_float(ranked, flops, quantized, min_fraction)
    trials: list[tuple[int, GateResult]] = []

    def passes(k: int) -> bool:
        trials.append((k, gate(list(ranked[:k]))))
        return bool(trials[-1][1].passed)

    lo, hi, k = 0, None, 1
    while hi is None and k <= kmax:
        if deadline.passed():
            return Search(False, list(ranked[:lo]), trials[-1][1] if trials else None, trials, _late(trials))
        if passes(k):
            hi = k
        else:
            lo, k = k, (kmax + 1 if k == kmax else min(2 * k, kmax))
    if hi is None:
        return Search(False, list(ranked[:lo]), trials[-1][1] if trials else None, trials,
                      _refusal(ranked, lo, flops, quantized, min_fraction))
    best = hi
    while hi - lo > 1 and not deadline.passed():
        mid = (lo + hi) // 2
        if passes(mid):
            hi = best = mid
        else:
            lo = mid
    gate_of = dict(trials)
    return Search(True, list(ranked[:best]), gate_of[best], trials)


def _max_float(ranked: Sequence[str], flops: Mapping[str, int], quantized: Collection[str],
               min_fraction: float) -> int:
    """Largest prefix of ``ranked`` that may go float with >= ``min_fraction`` still quantised."""
    left = set(quantized)
    k = 0
    for name in ranked:
        if quantized_fraction(flops, left - {name}) < min_fraction:
            break
        left.discard(name)
        k += 1
    return k


def _refusal(ranked: Sequence[str], k: int, flops: Mapping[str, int], quantized: Collection[str],
             min_fraction: float) -> str:
    share = quantized_fraction(flops, set(quantized) - set(ranked[:k]))
    return (f"INT8 fallback: the gate still fails with the {k} most sensitive layer(s) in float"
            f" ({100 * share:.1f} % of MatMul/Gemm FLOPs int8); passing would leave under"
            f" {100 * min_fraction:.0f} % in int8, so INT8 is refused")


def _late(trials: Sequence[tuple[int, GateResult]]) -> str:
    return (f"INT8 fallback: time limit reached after {len(trials)} gate run(s) without a passing model;"
            " raise max_seconds or use FP16")


def model_runner(model: onnx.ModelProto, *, batch_size: int = 32) -> Runner:
    """``x -> logits`` of an in-memory ONNX model on one ORT CPU session (same options as the gate's)."""
    session = ort.InferenceSession(model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        outs = [session.run(None, {name: np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32)})[0]
                for i in range(0, len(x), batch_size)]
        return np.concatenate(outs).astype(np.float32, copy=False)
    return run


def sensitivity_images(calib: np.ndarray | BatchSource, n: int = SENSITIVITY_IMAGES) -> np.ndarray:
    """Up to ``n`` calibration images, evenly spread over the set (the sample is stratified by class
    and task, and sorted, so the first rows would be one task's), at most ``SENSITIVITY_BYTES``."""
    total = len(calib)
    chw = calib.chw if isinstance(calib, BatchSource) else np.shape(calib)[1:]
    fit = max(1, SENSITIVITY_BYTES // (4 * int(np.prod(chw))))
    rows = np.unique(np.linspace(0, total - 1, min(n, total, fit)).round().astype(np.int64))
    if isinstance(calib, BatchSource):
        return calib.take(rows)
    return np.ascontiguousarray(np.asarray(calib)[rows], dtype=np.float32)


def rank_by_sensitivity(quantized: onnx.ModelProto, fp32: onnx.ModelProto, candidates: Sequence[str],
                        x: np.ndarray, *, deadline: Deadline = Deadline(),
                        float_model: Callable[[Sequence[str]], onnx.ModelProto] | None = None
                        ) -> list[tuple[str, float]]:
    """(node, error removed by keeping only it float), most sensitive first.

    ``float_model(nodes)`` is ``quantized`` with ``nodes`` float (default: re-emitted from the
    calibrated Q/DQ graph, :func:`.float_nodes.keep_float`; the CPU file re-quantises instead).
    Nodes not measured before ``deadline`` follow, in graph order, with score NaN.
    """
    if float_model is None:
        def float_model(nodes: Sequence[str]) -> onnx.ModelProto:
            return keep_float(quantized, fp32, nodes)
    ref = model_runner(fp32)(x)
    base = _mse(model_runner(quantized)(x), ref)
    scores: list[tuple[str, float]] = []
    for name in candidates:
        if deadline.passed():
            break
        scores.append((name, base - _mse(model_runner(float_model([name]))(x), ref)))
    ranked = sorted(scores, key=lambda item: -item[1])
    return ranked + [(name, math.nan) for name in candidates[len(scores):]]


def _mse(out: np.ndarray, ref: np.ndarray) -> float:
    return float(np.mean((out.astype(np.float64) - ref) ** 2))


def gate_int8(fp32_path: str | Path, path: str | Path, calib: np.ndarray | BatchSource, gate: ParityGate
              ) -> tuple[GateResult, QuantFields]:
    """Gate the INT8 file at ``path``; when it fails, keep its most sensitive layers float until it
    passes (:func:`run_fallback`, which may rewrite ``path``). Returns the verdict and the manifest fields."""
    first = gate.file(path)
    if first.passed:
        return first, QuantFields.measure(matmul_flops(onnx.load(str(fp32_path))), quantized_nodes(onnx.load(str(path))))
    return run_fallback(fp32_path, path, calib, gate, first)


def run_fallback(fp32_path: str | Path, int8_path: str | Path, calib: np.ndarray | BatchSource,
                 gate: ParityGate, first_gate: GateResult, limits: FallbackLimits = FallbackLimits()
                 ) -> tuple[GateResult, QuantFields]:
    """Search float nodes for the INT8 model at ``int8_path`` whose gate (``first_gate``) failed.

    ``gate.runner(run)`` gates a candidate. Returns (verdict, manifest fields). When a passing model
    is found it replaces ``int8_path`` (atomically, checked symmetric); otherwise the file and
    ``first_gate`` stay, with the refusal in ``fallback.reason`` and the verdict's ``reason``.
    """
    started = time.monotonic()
    deadline = Deadline(started + limits.max_seconds)
    fp32, q = onnx.load(str(fp32_path)), onnx.load(str(int8_path))
    flops, quantized = matmul_flops(fp32), quantized_nodes(q)
    x = sensitivity_images(calib)
    ranked = rank_by_sensitivity(q, fp32, quantized, x, deadline=deadline)
    search = search_float_nodes([name for name, _ in ranked], flops, quantized,
                                lambda nodes: gate.runner(model_runner(keep_float(q, fp32, nodes))),
                                min_fraction=limits.min_fraction, deadline=deadline)
    if search.passed:
        _write_checked(keep_float(q, fp32, search.float_nodes), Path(int8_path))
    record = fallback_record(first_gate, ranked, search, len(x))
    fields = QuantFields.measure(flops, quantized, search.float_nodes if search.passed else [], started, record)
    if search.passed:
        return search.gate, fields
    return first_gate.with_reason(search.reason), fields


def fallback_record(first_gate: GateResult, ranked: Sequence[tuple[str, float]], search: Search | None,
                    images: int, reason: str | None = None) -> FallbackRecord:
    """The record of a search (None: none ran) that started from ``first_gate``; ``reason``
    defaults to the search's own (empty when it passed)."""
    trials = () if search is None else tuple((k, g.summary()) for k, g in search.trials)
    why = (search.reason if search is not None else "") if reason is None else reason
    return FallbackRecord(first_gate.summary(), images, tuple(ranked), trials, why)


def _write_checked(model: onnx.ModelProto, dst: Path) -> None:
    """Write ``model`` over ``dst`` atomically after the checks ``quantize_int8`` makes."""
    bad = nonzero_zero_points(model)
    if bad:
        raise ValueError(f"INT8 graph has non-zero zero points (TensorRT needs symmetric): {bad[:3]}")
    with temp_dir_beside(dst) as tmp_dir:
        tmp = tmp_dir / dst.name
        onnx.save(model, str(tmp))
        onnx.checker.check_model(str(tmp), full_check=True)
        move_into_place(tmp, dst)
