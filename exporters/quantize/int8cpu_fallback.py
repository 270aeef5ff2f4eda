"""Float-layer fallback for the CPU INT8 file (``model.int8cpu.onnx``), as :mod:`.fallback`
does for the TensorRT file.

Why: dynamic quantisation usually agrees with FP32 better than the static file (its activation
ranges are computed per call), but on small-margin models it can still miss the 99 % top-1 gate:
SeqLoRA on Split-Fashion-MNIST without alignment, task 5, gave 98.76 %. The same remedy applies:
keep the few MatMuls whose quantisation moves the logits most in float.

How: there is no calibrated graph to edit here, so each candidate is re-quantised from the FP32 file
with more nodes excluded (``quantize_dynamic`` needs no calibration: well under a second per
candidate on the bundled model). Sensitivity of a node = the logit MSE against FP32 (on up to 256
calibration images) that disappears when only that node stays float; then the shared search
(:func:`.fallback.search_float_nodes`: k = 1, 2, 4, ..., bisection), refused below half of the
MatMul FLOPs in int8 or after the time limit, exactly as for the TensorRT file.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx

from ..parity.gate import GateResult, ParityGate
from ..parity.sources import BatchSource
from .fallback import (Deadline, FallbackLimits, fallback_record, rank_by_sensitivity, search_float_nodes,
                       sensitivity_images)
from .flops import matmul_flops
from .int8cpu import cpu_quantized_nodes, quantize_int8_cpu
from .records import QuantFields

NO_IMAGES = "CPU INT8 fallback: no calibration images to rank layers (request int8 too)"


def gate_int8cpu(fp32_path: str | Path, path: str | Path, calib: np.ndarray | BatchSource | None,
                 gate: ParityGate) -> tuple[GateResult, QuantFields]:
    """Gate the CPU INT8 file at ``path``; on failure, its float-layer fallback (ranked on ``calib``)."""
    first = gate.file(path)
    if first.passed:
        return first, cpu_matmul_record(fp32_path)
    return run_cpu_fallback(fp32_path, path, calib, gate, first)


def cpu_matmul_record(fp32_path: str | Path) -> QuantFields:
    """The manifest fields of a CPU INT8 file that passed without the fallback."""
    fp32 = onnx.load(str(fp32_path))
    return QuantFields.measure(matmul_flops(fp32), cpu_quantized_nodes(fp32))


def run_cpu_fallback(fp32_path: str | Path, path: str | Path, calib: np.ndarray | BatchSource | None,
                     gate: ParityGate, first_gate: GateResult, limits: FallbackLimits = FallbackLimits()
                     ) -> tuple[GateResult, QuantFields]:
    """Search float nodes for the CPU INT8 file at ``path`` whose gate (``first_gate``) failed.

    ``gate.file(file)`` gates a candidate file. ``calib`` supplies the sensitivity images (None: no
    search, the failure stands). A passing file replaces ``path`` (atomically); otherwise ``path``
    and ``first_gate`` stay, with the refusal in the reason. Returns (verdict, manifest fields).
    """
    started = time.monotonic()
    deadline = Deadline(started + limits.max_seconds)
    fp32 = onnx.load(str(fp32_path))
    flops, quantized = matmul_flops(fp32), cpu_quantized_nodes(fp32)
    if calib is None:
        record = fallback_record(first_gate, (), None, 0, NO_IMAGES)
        return first_gate.with_reason(NO_IMAGES), QuantFields.measure(flops, quantized, (), started, record)
    x = sensitivity_images(calib)
    with tempfile.TemporaryDirectory(dir=Path(path).parent) as tmp:
        def candidate(nodes: Sequence[str]) -> Path:
            return quantize_int8_cpu(fp32_path, Path(tmp) / "candidate.onnx", exclude_nodes=nodes)

        ranked = rank_by_sensitivity(onnx.load(str(candidate([]))), fp32, quantized, x, deadline=deadline,
                                     float_model=lambda nodes: onnx.load(str(candidate(nodes))))
        search = search_float_nodes([name for name, _ in ranked], flops, quantized,
                                    lambda nodes: gate.file(candidate(nodes)), min_fraction=limits.min_fraction,
                                    deadline=deadline)
    if not search.passed:
        record = fallback_record(first_gate, ranked, search, len(x))
        return first_gate.with_reason(search.reason), QuantFields.measure(flops, quantized, (), started, record)
    quantize_int8_cpu(fp32_path, path, exclude_nodes=search.float_nodes)
    record = fallback_record(first_gate, ranked, search, len(x), "")
    return search.gate, QuantFields.measure(flops, quantized, search.float_nodes, started, record)


__all__ = ["gate_int8cpu", "run_cpu_fallback", "cpu_matmul_record"]
