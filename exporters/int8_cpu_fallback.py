"""Float-layer fallback for the CPU INT8 file (``model.int8cpu.onnx``), as :mod:`.int8_fallback`
does for the TensorRT file.

Why: dynamic quantisation usually agrees with FP32 better than the static file (its activation
ranges are computed per call), but on small-margin models it can still miss the 99 % top-1 gate:
SeqLoRA on Split-Fashion-MNIST without alignment, task 5, gave 98.76 %. The same remedy applies:
keep the few MatMuls whose quantisation moves the logits most in float.

How: there is no calibrated graph to edit here, so each candidate is re-quantised from the FP32 file
with more nodes excluded (``quantize_dynamic`` needs no calibration: well under a second per
candidate on the bundled model). Sensitivity of a node = the logit MSE against FP32 (on up to 256
calibration images) that disappears when only that node stays float; then the shared search
(:func:`.int8_fallback.search_float_nodes`: k = 1, 2, 4, ..., bisection), refused below half of the
MatMul FLOPs in int8 or after the time limit, exactly as for the TensorRT file.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import onnx

from .int8_cpu import cpu_quantized_nodes, quantize_int8_cpu
from .int8_fallback import (FALLBACK_SECONDS, MIN_QUANTIZED_FRACTION, fallback_fields, rank_by_sensitivity,
                            search_float_nodes, sensitivity_images)
from .matmul_flops import matmul_flops, quantized_fraction
from .sources import BatchSource

PathGate = Callable[[Path], Mapping[str, Any]]


def cpu_matmul_record(fp32_path: str | Path) -> dict[str, Any]:
    """The manifest fields of a CPU INT8 file that passed without the fallback."""
    fp32 = onnx.load(str(fp32_path))
    share = quantized_fraction(matmul_flops(fp32), cpu_quantized_nodes(fp32))
    return {"float_nodes": [], "quantized_matmul_fraction": round(share, 4), "fallback_seconds": 0.0}


def run_cpu_fallback(fp32_path: str | Path, path: str | Path, calib: np.ndarray | BatchSource | None,
                     gate: PathGate, first_gate: Mapping[str, Any], *, max_seconds: float = FALLBACK_SECONDS,
                     min_fraction: float = MIN_QUANTIZED_FRACTION) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """Search float nodes for the CPU INT8 file at ``path`` whose gate (``first_gate``) failed.

    ``gate(file)`` gates a candidate file. ``calib`` supplies the sensitivity images (None: no
    search, the failure stands). A passing file replaces ``path`` (atomically); otherwise ``path``
    and ``first_gate`` stay, with the refusal in the reason. Returns (gate record, manifest fields).
    """
    started = time.monotonic()
    deadline = started + max_seconds
    fp32 = onnx.load(str(fp32_path))
    flops, quantized = matmul_flops(fp32), cpu_quantized_nodes(fp32)
    if calib is None:
        return _refused(first_gate, "CPU INT8 fallback: no calibration images to rank layers (request int8 too)", flops,
                        quantized, started)
    x = sensitivity_images(calib)
    with tempfile.TemporaryDirectory(dir=Path(path).parent) as tmp:
        def candidate(nodes: Sequence[str]) -> Path:
            return quantize_int8_cpu(fp32_path, Path(tmp) / "candidate.onnx", exclude_nodes=nodes)

        ranked = rank_by_sensitivity(onnx.load(str(candidate([]))), fp32, quantized, x, deadline=deadline,
                                     float_model=lambda nodes: onnx.load(str(candidate(nodes))))
        search = search_float_nodes([name for name, _ in ranked], flops, quantized,
                                    lambda nodes: gate(candidate(nodes)), min_fraction=min_fraction, deadline=deadline)
    if not search.passed:
        return _refused(first_gate, search.reason, flops, quantized, started, ranked, search.trials, len(x))
    quantize_int8_cpu(fp32_path, path, exclude_nodes=search.float_nodes)
    fields = fallback_fields(search.float_nodes, flops, quantized, started, first_gate, ranked, search.trials,
                             len(x), "")
    return search.gate, fields


def _refused(first_gate: Mapping[str, Any], reason: str, flops: Mapping[str, int], quantized: Sequence[str],
             started: float, ranked: Sequence[tuple[str, float]] = (), trials: Sequence = (), images: int = 0
             ) -> tuple[Mapping[str, Any], dict[str, Any]]:
    record = dict(first_gate)
    record["reason"] = "; ".join(r for r in (record.get("reason", ""), reason) if r)
    return record, fallback_fields([], flops, quantized, started, first_gate, ranked, trials, images, reason)


__all__ = ["run_cpu_fallback", "cpu_matmul_record"]
