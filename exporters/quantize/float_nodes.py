"""Re-emit a QDQ INT8 graph with some of its quantised nodes back in float, without re-calibrating.

Why: the INT8 fallback (:mod:`.fallback`) tries many "these nodes float, the rest int8" models.
Quantising each from scratch would re-run calibration every time (the slow part: every activation
of every calibration image), and could even land on slightly different ranges. Here the graph is
quantised once and each candidate is derived from it: a node kept float gets back the inputs it has
in the FP32 graph (the float activation that its QuantizeLinear read, and its float weight), and the
Q/DQ pairs around it (its output's, and the ones only non-int8 nodes read) are bypassed, and the Q/DQ
nodes and int8 weights nobody reads any more are pruned. Every other scale, zero point and Q/DQ
pair is untouched, so the result stays symmetric int8 QDQ (TensorRT's explicit quantisation) and
equals what ``quantize_static(nodes_to_exclude=...)`` with the same ranges would run.
"""
from __future__ import annotations

from typing import Collection

import onnx

from .flops import quantized_nodes


def keep_float(quantized: onnx.ModelProto, fp32: onnx.ModelProto, nodes: Collection[str]) -> onnx.ModelProto:
    """A copy of the QDQ model ``quantized`` in which the nodes named ``nodes`` run in float.

    ``fp32`` is the float graph ``quantized`` was made from (node names are shared). Raises
    ``ValueError`` for a name that is not a node of both graphs.
    """
    out = onnx.ModelProto()
    out.CopyFrom(quantized)
    wanted = set(nodes)
    if not wanted:
        return out
    originals = {n.name: n for n in fp32.graph.node if n.name in wanted}
    present = {n.name for n in out.graph.node if n.name in wanted}
    missing = sorted(wanted - (present & set(originals)))
    if missing:
        raise ValueError(f"cannot keep {', '.join(missing[:3])} in float: not a node of both the FP32 and the INT8 graph")
    weights = {t.name: t for t in fp32.graph.initializer}
    have = {t.name for t in out.graph.initializer}
    for node in out.graph.node:
        if node.name in wanted:
            del node.input[:]
            node.input.extend(originals[node.name].input)
            for name in originals[node.name].input:
                if name in weights and name not in have:
                    out.graph.initializer.append(weights[name])
                    have.add(name)
    _check_inputs_exist(out, wanted)
    int8 = set(quantized_nodes(quantized)) - wanted
    _bypass_pairs(out, {t for n in out.graph.node if n.name in wanted for t in [*n.input, *n.output]}, int8)
    prune(out)
    return out


def _bypass_pairs(model: onnx.ModelProto, tensors: Collection[str], int8: Collection[str]) -> None:
    """Nodes other than the ``int8`` ones that read ``DQ(Q(t))`` for ``t`` in ``tensors`` read ``t``.

    ORT quantises a MatMul's output too (a Q/DQ pair before the bias Add) and lets shape ops read the
    dequantised input; with the node float, nothing asks for those pairs any more (as with
    ``nodes_to_exclude``), while a still-int8 consumer keeps its input pair.
    """
    floats = set(tensors)
    source = {n.output[0]: n.input[0] for n in model.graph.node
              if n.op_type == "QuantizeLinear" and n.input[0] in floats}
    dequantized = {n.output[0]: source[n.input[0]] for n in model.graph.node
                   if n.op_type == "DequantizeLinear" and n.input[0] in source}
    for node in model.graph.node:
        if node.name in int8:
            continue
        for k, name in enumerate(node.input):
            if name in dequantized:
                node.input[k] = dequantized[name]


def _check_inputs_exist(model: onnx.ModelProto, nodes: Collection[str]) -> None:
    """Every input of the restored ``nodes`` must be produced in ``model`` (else the graph is broken)."""
    made = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer}
    made |= {o for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        lost = [i for i in node.input if node.name in nodes and i and i not in made]
        if lost:
            raise ValueError(f"cannot keep {node.name} in float: its FP32 input {lost[0]} is gone from the INT8 graph")


def prune(model: onnx.ModelProto) -> None:
    """Drop (in place) nodes whose outputs nobody reads, then unread initialisers and stale value_info."""
    while True:
        read = {o.name for o in model.graph.output} | {i for n in model.graph.node for i in n.input}
        dead = [k for k, n in enumerate(model.graph.node) if not read.intersection(n.output)]
        if not dead:
            break
        for k in reversed(dead):
            del model.graph.node[k]
    read = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
    keep = [t for t in model.graph.initializer if t.name in read]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    made = {o for n in model.graph.node for o in n.output}
    info = [v for v in model.graph.value_info if v.name in made]
    del model.graph.value_info[:]
    model.graph.value_info.extend(info)
