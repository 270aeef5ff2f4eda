"""FP32 ONNX -> INT8 ONNX: static, symmetric, QDQ (QuantizeLinear/DequantizeLinear) quantisation.

Why this form: TensorRT's explicit-quantisation path parses Q/DQ pairs and accepts only zero point 0
(symmetric int8), for weights and activations; ORT runs the same file on CPU. Static means
activation ranges are fixed from calibration data, so the caller must pass real images drawn from
every seen task (``stratified_sample``). Symmetric int8: ``q = clip(round(x / s), -127, 127)`` with
``s = max|x| / 127`` per tensor for activations and per output channel for weights.

Defaults (measured, see benchmarks/bench_export.py and the module constants below) pick which ops are
quantised and the calibration method.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static,
)

from .atomic import temp_path_beside

QUANT_OPS: tuple[str, ...] = ("MatMul", "Conv", "Gemm")
CALIB_METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                 "entropy": CalibrationMethod.Entropy}
DEFAULT_CALIB_METHOD = "minmax"
MIN_CALIB = 500  # the caller should pass at least this many images where the data has them


class ArrayCalibrationReader(CalibrationDataReader):
    """Feeds ``calib`` (N, C, H, W) float32 to the calibrator in batches of ``batch_size``."""

    def __init__(self, calib: np.ndarray, *, input_name: str = "input", batch_size: int = 32) -> None:
        self.calib = np.ascontiguousarray(calib, dtype=np.float32)
        self.input_name, self.batch_size = input_name, int(batch_size)
        self._start = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._start >= len(self.calib):
            return None
        batch = self.calib[self._start : self._start + self.batch_size]
        self._start += self.batch_size
        return {self.input_name: batch}

    def rewind(self) -> None:
        self._start = 0


def quantize_int8(
    src: str | Path,
    dst: str | Path,
    calib: np.ndarray,
    *,
    op_types: Sequence[str] = QUANT_OPS,
    exclude_ops: Iterable[str] = (),
    exclude_nodes: Iterable[str] = (),
    method: str = DEFAULT_CALIB_METHOD,
    batch_size: int = 32,
) -> Path:
    """Quantise the FP32 model ``src`` into ``dst`` (atomically) and check it is symmetric.

    ``calib``: float32 (N, C, H, W) inputs in [0, 1], N >= 1 (>= ``MIN_CALIB`` recommended).
    ``op_types``: op types whose inputs get Q/DQ; ``exclude_ops``: op types taken out of that set;
    ``exclude_nodes``: node names left in float. Weights are int8 per output channel, activations
    int8 per tensor, every zero point 0 (raises ``ValueError`` otherwise). Graph I/O stays float32.
    """
    calib = _check_calib(calib, src)
    if method not in CALIB_METHODS:
        raise ValueError(f"unknown calibration method {method!r}: choose one of {', '.join(CALIB_METHODS)}")
    ops = [op for op in op_types if op not in set(exclude_ops)]
    dst = Path(dst)
    with temp_path_beside(dst) as tmp_dir:
        tmp = tmp_dir / dst.name
        quantize_static(
            str(src), str(tmp), ArrayCalibrationReader(calib, batch_size=batch_size),
            quant_format=QuantFormat.QDQ, op_types_to_quantize=ops, per_channel=True,
            reduce_range=False, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=list(exclude_nodes), calibrate_method=CALIB_METHODS[method],
            extra_options={
                "ActivationSymmetric": True, "WeightSymmetric": True,
                "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1},  # weight (K, N): one scale per output
                "QuantizeBias": False,  # TensorRT 8.x has no int32 DequantizeLinear: keep biases float
            },
        )
        bad = nonzero_zero_points(onnx.load(str(tmp)))
        if bad:
            raise ValueError(f"INT8 graph has non-zero zero points (TensorRT needs symmetric): {bad[:3]}")
        os.replace(tmp, dst)
    return dst


def _check_calib(calib: np.ndarray, src: str | Path) -> np.ndarray:
    calib = np.asarray(calib)
    dims = onnx.load(str(src), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    want = tuple(d.dim_value for d in dims[1:])
    if calib.ndim != 4 or calib.shape[1:] != want or len(calib) == 0:
        raise ValueError(f"calibration data must be float32 (N>=1, {', '.join(map(str, want))}), got {calib.shape}")
    if not np.isfinite(calib).all():
        raise ValueError("calibration data contains NaN/Inf")
    return calib.astype(np.float32, copy=False)


def quant_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """All QuantizeLinear / DequantizeLinear nodes."""
    return [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]


def nonzero_zero_points(model: onnx.ModelProto) -> list[str]:
    """Names of Q/DQ nodes whose zero point is not all 0 or not int8 (empty list: symmetric int8).

    A missing zero point input means 0 (uint8 by spec, which is also reported: we want int8).
    """
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    bad = []
    for node in quant_nodes(model):
        zp = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if zp is None or zp.dtype != np.int8 or np.any(zp != 0):
            bad.append(node.name or node.output[0])
    return bad
