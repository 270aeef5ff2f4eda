"""exporters/onnx: ONNX export with its checks, FP16 conversion, metadata stamps."""
from .base import Mutant

PACKAGE = "exporters.onnx"
CHECKS = "tests/exporters/onnx/test_export_checks.py"
ONNX = "tests/exporters/onnx"
EXPORT, FP16 = "exporters/onnx/export.py", "exporters/onnx/fp16.py"
MUTANTS = [
    Mutant("parity-nan-passes", "an export whose ONNX logits are NaN passes the parity check",
           EXPORT, "if not np.isfinite(diff) or diff > atol:", "if diff > atol:", (CHECKS, ONNX)),
    Mutant("opset-unchecked", "a graph with another opset than asked for is accepted",
           EXPORT, "if opset is not None and got != {int(opset)}:", "if False:", (CHECKS, ONNX)),
    Mutant("fp16-softmax-half", "Softmax is computed in FP16 in the FP16 graph",
           FP16, "\"LayerNormalization\", \"Softmax\", \"ReduceMean\"", "\"LayerNormalization\", \"ReduceMean\"",
           (ONNX,)),
    Mutant("fp16-round-trips-kept", "FP16 round trips between two FP32 nodes are kept (LayerNorm overflow)",
           FP16, "    drop_fp16_round_trips(half.graph, original)\n", "", (ONNX,)),
]
