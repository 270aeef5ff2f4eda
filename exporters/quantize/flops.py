"""Per-image FLOPs of every MatMul/Gemm, and the share of them an INT8 graph runs quantised.

Why: keeping layers in float is the INT8 fallback's lever (:mod:`.fallback`), and what it costs
is the matrix work that no longer runs in int8. A transformer's time is in its MatMul/Gemm nodes, so
``quantized_matmul_fraction`` (quantised MatMul/Gemm FLOPs / all MatMul/Gemm FLOPs) says how much of
the model INT8 still covers; the fallback refuses below one half.

Shapes come from one batch-1 run of the float graph with every MatMul/Gemm's first input and output
exposed: exact whatever the exporter left symbolic (token counts behind Reshape/Shape chains), and
cheap. For both ops ``FLOPs = 2 * out.size * K`` (K: the reduced dimension, the last one of the first
operand, or the first one under Gemm's ``transA``): ``2*M*K*N`` per image for ``(M, K) x (K, N)``,
times the heads for attention's batched MatMuls.
"""
from __future__ import annotations

from typing import Collection, Mapping

import numpy as np
import onnx
import onnxruntime as ort

from ..parity.ort_session import session_options

MATMUL_OPS: tuple[str, ...] = ("MatMul", "Gemm")


def matmul_flops(model: onnx.ModelProto) -> dict[str, int]:
    """``{node name: FLOPs per image}`` for every MatMul/Gemm of the float ``model`` (in graph order)."""
    nodes = [n for n in model.graph.node if n.op_type in MATMUL_OPS]
    unnamed = [n.op_type for n in nodes if not n.name]
    if unnamed:
        raise ValueError(f"{len(unnamed)} MatMul/Gemm node(s) have no name: re-export the model (exporters name every node)")
    if not nodes:
        return {}
    shapes = _probe_shapes(model, [t for n in nodes for t in (n.input[0], n.output[0])])
    return {n.name: _flops(n, shapes[n.input[0]], shapes[n.output[0]]) for n in nodes}


def _flops(node: onnx.NodeProto, a: tuple[int, ...], out: tuple[int, ...]) -> int:
    trans_a = any(at.name == "transA" and at.i for at in node.attribute)
    k = a[0] if node.op_type == "Gemm" and trans_a else a[-1]
    return int(2 * int(np.prod(out, dtype=np.int64)) * k)


def _probe_shapes(model: onnx.ModelProto, names: list[str]) -> dict[str, tuple[int, ...]]:
    """Shapes of the tensors ``names`` on one input row (a batch of 1, mid-grey pixels)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        if name not in known:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = session_options(ort.GraphOptimizationLevel.ORT_DISABLE_ALL)  # keep every named tensor
    session = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {}
    for inp in session.get_inputs():
        dims = [1 if not isinstance(d, int) or d < 1 else d for d in inp.shape]
        feed[inp.name] = np.full(dims, 0.5, dtype=np.float32)
    outs = session.run(wanted, feed)
    return {name: tuple(int(d) for d in out.shape) for name, out in zip(wanted, outs)}


def quantized_nodes(model: onnx.ModelProto, op_types: Collection[str] = ("MatMul", "Gemm", "Conv")) -> list[str]:
    """Names of the ``op_types`` nodes of a QDQ ``model`` that take an input through DequantizeLinear,
    i.e. that ORT and TensorRT run in int8."""
    dequantized = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return [n.name for n in model.graph.node if n.op_type in op_types and dequantized.intersection(n.input)]


def quantized_fraction(flops: Mapping[str, int], quantized: Collection[str]) -> float:
    """Quantised MatMul/Gemm FLOPs over all MatMul/Gemm FLOPs (1.0 for a graph without any)."""
    total = sum(flops.values())
    if total <= 0:
        return 1.0
    chosen = set(quantized)
    return float(sum(f for name, f in flops.items() if name in chosen) / total)
