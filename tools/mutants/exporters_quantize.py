"""exporters/quantize: static symmetric INT8 (TensorRT), dynamic INT8 (CPU), calibration."""
from .base import Mutant

PACKAGE = "exporters.quantize"
QUANT = "tests/exporters/quantize"
INT8 = "exporters/quantize/int8.py"
MUTANTS = [
    Mutant("calib-tail-dropped", "the last, shorter calibration batch is never fed",
           INT8, "        if have:\n            yield np.ascontiguousarray(np.concatenate(pending))",
           "        if False:\n            yield np.ascontiguousarray(np.concatenate(pending))", (QUANT,)),
    Mutant("calib-nan-accepted", "calibration data with NaN/Inf is accepted",
           INT8, "            if not np.isfinite(x).all():\n", "            if False:\n",
           ("tests/exporters/quantize/test_calibration_reader.py", QUANT)),
    Mutant("zero-point-unchecked", "a non-zero int8 zero point is not reported (TensorRT needs symmetric)",
           INT8, "if zp is None or zp.dtype != np.int8 or np.any(zp != 0):",
           "if zp is None or zp.dtype != np.int8:", (QUANT,)),
]
