"""FP32 ONNX -> the CPU INT8 file ``model.int8cpu.onnx``: ONNX Runtime dynamic quantisation.

Why a second INT8 file: the TensorRT file (``model.int8.onnx``, static symmetric Q/DQ, :mod:`.int8`)
runs only 1.20x / 1.28x FP32 on ONNX Runtime CPU (batch 1 / 32): a QuantizeLinear before and a
DequantizeLinear after every integer MatMul stay in ORT's optimised graph, because LayerNorm, GELU,
softmax and the residual adds are float. ``quantize_dynamic`` on the weight MatMuls (per-tensor int8
weights, uint8 activations whose range is computed per call: ``DynamicQuantizeLinear`` +
``MatMulInteger`` in the file, fused by ORT into one ``DynamicQuantizeMatMul`` per layer) was the
fastest variant that passes the INT8 gate and runs at least 1.3x FP32 at batch 1 and 32, measured
with ``python benchmarks/int8_cpu_variants.py --run RUN --task 5`` (variant ``dyn-u8s8-pt``; the
numbers: see benchmarks/RESULTS.md and README, "INT8 on ONNX Runtime CPU"). TensorRT does
not build ``DynamicQuantizeLinear``/``MatMulInteger`` graphs, so this file is for ONNX Runtime only
(precision ``int8cpu``; TensorRT/DeepStream take ``model.int8.onnx``). No calibration data: the
activation ranges are computed at run time.

What stays float (as in the TensorRT file): the patch embedding and the head (the first layer sees
raw pixels, the last one makes the logits) and attention's two MatMuls of activations (``q k^T``,
``softmax(.) v``: :func:`.int8.activation_matmuls`; quantising them failed the gate, see :mod:`.int8`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import onnx
from edgecl_runtime.atomic_io import move_into_place, temp_dir_beside
from edgecl_runtime.contract import format_named
from onnxruntime.quantization import QuantType, quantize_dynamic

from .calibration import FLOAT_LAYERS
from .int8 import activation_matmuls, quiet_quantizer

FORMAT = format_named("int8cpu")  # the contract's row of this file; the exporters' table names it by this


def float_nodes(model: onnx.ModelProto, float_layers: Sequence[str] = FLOAT_LAYERS) -> list[str]:
    """Names of the nodes left float: every node of ``float_layers`` (module names as in the exported
    node names ``/model/<layer>/...``) and the MatMuls of two activations."""
    names = [n.name for n in model.graph.node if any(f"/{layer}/" in n.name for layer in float_layers)]
    return names + activation_matmuls(model)


def quantize_int8_cpu(src: str | Path, dst: str | Path, *, float_layers: Sequence[str] = FLOAT_LAYERS,
                      exclude_nodes: Sequence[str] = ()) -> Path:
    """Quantise the FP32 model ``src`` into ``dst`` (atomically) for ONNX Runtime on CPU.

    MatMuls with a constant weight only (``MatMulConstBOnly``): int8 weights, one scale per tensor
    (``per_channel=False``, measured faster than per channel), full 8-bit range
    (``reduce_range=False``), uint8 activations quantised per call. Graph I/O stays float32.
    ``exclude_nodes``: more node names (of ``src``) left float, chosen by :mod:`.int8cpu_fallback`.
    """
    src, dst = Path(src), Path(dst)
    skip = float_nodes(onnx.load(str(src)), float_layers) + list(exclude_nodes)
    skip += [f"{name}_MatMul" for name in skip]  # quantize_dynamic rewrites a Gemm as <name>_MatMul + Add first
    with temp_dir_beside(dst) as tmp_dir:
        tmp = tmp_dir / dst.name
        with quiet_quantizer():
            quantize_dynamic(str(src), str(tmp), op_types_to_quantize=["MatMul"], per_channel=False,
                             reduce_range=False, weight_type=QuantType.QInt8, nodes_to_exclude=skip,
                             extra_options={"MatMulConstBOnly": True})
        onnx.checker.check_model(str(tmp), full_check=True)
        move_into_place(tmp, dst)
    return dst


def cpu_quantized_nodes(model: onnx.ModelProto, float_layers: Sequence[str] = FLOAT_LAYERS) -> list[str]:
    """The MatMuls :func:`quantize_int8_cpu` quantises (those with a constant weight, outside the
    float layers): the candidates of the fallback and the basis of ``quantized_matmul_fraction``."""
    skip = set(float_nodes(model, float_layers))
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in skip]


__all__ = ["FORMAT", "quantize_int8_cpu", "float_nodes", "cpu_quantized_nodes", "FLOAT_LAYERS"]
