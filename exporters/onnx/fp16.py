"""FP32 ONNX -> FP16 ONNX with the numerically fragile ops kept in FP32.

float16 has a largest finite value of 65504 and ~3 significant digits. In a ViT three places break:

* LayerNorm: ``var = mean((x - mean(x))^2)``. Residual-stream activations of a few hundred square
  to more than 65504 -> inf -> the block output becomes NaN. Opset 17 graphs have one
  ``LayerNormalization`` node (blocked by op type); opset 16 graphs carry the decomposition
  ``ReduceMean, Sub, Pow, ReduceMean, Add(eps), Sqrt, Div, Mul(gamma), Add(beta)``, and blocking
  ``Pow``/``Div``/``Sqrt`` by op type would also pin GELU and the normalisation, so the pattern is
  found structurally and its nodes are blocked by name.
* Softmax: ``sum(exp(.))`` over the tokens loses digits; kept FP32.
* Reductions (ReduceMean/Sum/...): long sums in FP16 lose digits; kept FP32.

ONNX Runtime's CPU provider has FP16 kernels for few ops and runs the rest in FP32 behind Casts, so
on a CPU the FP16 file is neither faster nor a test of FP16 numerics: with LayerNorm left unblocked on
a model whose activations reach ~300, ORT CPU still produced finite logits, while a GPU/TensorRT
would compute in real FP16. That is why the tests check the graph's types, not just CPU outputs.

Graph inputs and outputs stay float32 (``keep_io_types``), so callers feed and read the same arrays as
for the FP32 model. The converter is ``onnxruntime.transformers.float16``: it handles the graphs of
both exporters (onnxconverter-common failed on one of them when measured).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

import onnx
from edgecl_runtime.atomic_io import write_bytes_atomic
from edgecl_runtime.contract import format_named
from onnxruntime.transformers import float16
from onnxruntime.transformers.onnx_model import OnnxModel

# Ops computed in FP32 inside the FP16 graph (converter's own defaults are added on top).
FP32_OPS: tuple[str, ...] = (
    "LayerNormalization", "Softmax", "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceMax",
    "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
)
FORMAT = format_named("fp16")  # the contract's row of this file


def convert_fp16(src: str | Path, dst: str | Path, *, fp32_ops: Iterable[str] = FP32_OPS) -> Path:
    """Write the FP16 version of the FP32 model ``src`` to ``dst`` (atomically); returns ``dst``.

    Weights and activations become float16 except for ``fp32_ops`` and every node of a decomposed
    LayerNorm; Cast nodes are inserted at the borders. Graph I/O stays float32.
    """
    model = onnx.load(str(src))
    _name_unnamed_nodes(model.graph)
    original = {n.name for n in model.graph.node}
    del model.graph.value_info[:]  # stale float32 annotations (dynamo graphs) would contradict the FP16 types
    blocked = layernorm_pattern_nodes(model.graph)
    op_block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(fp32_ops))
    half = float16.convert_float_to_float16(
        model, keep_io_types=True, op_block_list=op_block, node_block_list=sorted(blocked),
    )
    drop_fp16_round_trips(half.graph, original)
    OnnxModel(half).topological_sort()  # the converter appends its I/O Casts after their consumers
    onnx.checker.check_model(half, full_check=True)
    return write_bytes_atomic(dst, half.SerializeToString())


def _name_unnamed_nodes(graph: onnx.GraphProto) -> None:
    """The converter blocks nodes by name; give every unnamed node a unique one."""
    taken = {n.name for n in graph.node if n.name}
    for i, node in enumerate(graph.node):
        if not node.name:
            name = f"{node.op_type}_edgecl_{i}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)


def layernorm_pattern_nodes(graph: onnx.GraphProto) -> set[str]:
    """Names of the nodes that make up each decomposed LayerNorm (opset < 17 exports).

    Matched chain, starting at ``m = ReduceMean(x)``:
    ``d = Sub(x, m); v = ReduceMean(Pow(d, 2)); y = Div(d, Sqrt(Add(v, eps)))`` and, when present,
    the affine tail ``Add(Mul(y, gamma), beta)``.
    """
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    found: set[str] = set()
    for node in graph.node:
        if node.op_type == "ReduceMean":
            found |= _match_layernorm(node, consumers)
    return found


def _only(consumers: dict[str, list[onnx.NodeProto]], tensor: str, op: str) -> onnx.NodeProto | None:
    """The single consumer of ``tensor`` with op type ``op`` (None when absent)."""
    hits = [n for n in consumers.get(tensor, []) if n.op_type == op]
    return hits[0] if len(hits) == 1 else None


def _match_layernorm(mean: onnx.NodeProto, consumers: dict[str, list[onnx.NodeProto]]) -> set[str]:
    x = mean.input[0]
    sub = _only(consumers, mean.output[0], "Sub")
    if sub is None or list(sub.input) != [x, mean.output[0]]:
        return set()
    pow_ = _only(consumers, sub.output[0], "Pow")
    div = _only(consumers, sub.output[0], "Div")
    var = pow_ and _only(consumers, pow_.output[0], "ReduceMean")
    add = var and _only(consumers, var.output[0], "Add")
    sqrt = add and _only(consumers, add.output[0], "Sqrt")
    if not (pow_ and div and var and add and sqrt) or div.input[1] != sqrt.output[0]:
        return set()
    chain = [mean, sub, pow_, var, add, sqrt, div]
    mul = _only(consumers, div.output[0], "Mul")
    beta = mul and _only(consumers, mul.output[0], "Add")
    chain += [n for n in (mul, beta) if n is not None]
    return {n.name for n in chain}


def drop_fp16_round_trips(graph: onnx.GraphProto, original: set[str]) -> int:
    """Remove the converter's ``Cast(to=fp16) -> Cast(to=fp32)`` pairs between two FP32 nodes.

    Between two blocked nodes (e.g. ``Pow -> ReduceMean`` of a decomposed LayerNorm) the converter
    rounds the FP32 tensor to FP16 and back, which brings back exactly the overflow the block was
    for (``(x - mean)^2`` > 65504 -> inf). Only Casts the converter added (names not in ``original``)
    are touched, and the first Cast's input is FP32 by construction, so skipping the pair is exact.
    Returns the number of pairs bypassed.
    """
    producers = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    bypass: dict[str, str] = {}
    for node in graph.node:
        parent = producers.get(node.input[0]) if node.op_type == "Cast" else None
        if (parent is not None and parent.op_type == "Cast" and node.name not in original
                and parent.name not in original and _cast_to(node) == onnx.TensorProto.FLOAT
                and _cast_to(parent) == onnx.TensorProto.FLOAT16 and node.output[0] not in outputs):
            bypass[node.output[0]] = parent.input[0]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in bypass:
                node.input[i] = bypass[name]
    _prune_dead_casts(graph)
    return len(bypass)


def _cast_to(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "to"), -1)


def _prune_dead_casts(graph: onnx.GraphProto) -> None:
    """Delete Cast nodes whose output nobody reads (repeat: removing one can orphan its parent)."""
    while True:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if n.op_type == "Cast" and n.output[0] not in used]
        if not dead:
            return
        for n in dead:
            graph.node.remove(n)
