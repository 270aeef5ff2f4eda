"""INT8 files of a bundle: TensorRT's calibrated Q/DQ file and ONNX Runtime's CPU file, the one list
of calibration methods, and the float-layer fallback search both files share when a gate fails."""
from __future__ import annotations

from .._lazy import lazy_names

_WHERE = {
    "CALIBRATIONS": "calibration", "DEFAULT_CALIBRATION": "calibration", "Int8Options": "calibration",
    "check_calibration": "calibration", "MIN_CALIB": "calibration",
    "quantize_int8": "int8", "quantize_int8_cpu": "int8cpu", "nonzero_zero_points": "int8",
    "activation_matmuls": "int8", "quant_nodes": "int8", "BatchCalibrationReader": "int8",
    "CalibrationRecord": "methods", "gate_calibrated": "methods", "methods_to_try": "methods",
    "gate_int8": "fallback", "gate_int8cpu": "int8cpu_fallback", "FallbackLimits": "fallback",
    "QuantFields": "records", "FallbackRecord": "records", "keep_float": "float_nodes",
    "matmul_flops": "flops", "quantized_fraction": "flops", "quantized_nodes": "flops",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_names(__name__, _WHERE)
