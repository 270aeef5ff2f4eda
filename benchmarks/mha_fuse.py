"""Candidate for the CPU file: timm's exported attention as ONNX Runtime's ``MultiHeadAttention``.

timm exports each block's attention as Reshape -> Transpose -> Split -> 3 Squeeze -> Mul (scale) ->
Transpose -> MatMul -> Softmax -> MatMul -> Transpose -> Reshape: about 15 small kernels per block
that ONNX Runtime's optimizer does not fuse (0 attention fusions with ``model_type="vit"``). Here the
chain from the qkv projection's output to the input of ``proj`` becomes Split (q, k, v as
[B, S, D]) + ``com.microsoft.MultiHeadAttention`` (num_heads and the scale read from the graph, so
the arithmetic is the same up to float rounding), and the nodes left without a consumer are removed.
Timed by ``bench_official.py --candidates mha`` (``+MHA`` rows); not shipped: on an idle machine it
bought 1.07x at batch 1 on the default model and nothing at batch 32 or on vit_tiny at 224 px
(benchmarks/RESULTS.md), and the FP32 file's CPU kernel is no faster (as onnxruntime#19924 reports).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

MS_DOMAIN = "com.microsoft"


def _producers(graph: onnx.GraphProto) -> Dict[str, onnx.NodeProto]:
    return {o: n for n in graph.node for o in n.output}


def _consumers(graph: onnx.GraphProto) -> Dict[str, List[onnx.NodeProto]]:
    out: Dict[str, List[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            out.setdefault(i, []).append(n)
    return out


def _const(graph: onnx.GraphProto, prod: Dict[str, onnx.NodeProto], name: str) -> Optional[np.ndarray]:
    """The value of ``name`` when it is an initializer or a Constant node's output."""
    for t in graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    node = prod.get(name)
    if node is not None and node.op_type == "Constant":
        return numpy_helper.to_array(next(a.t for a in node.attribute if a.name == "value"))
    return None


def _single(cons: Dict[str, List[onnx.NodeProto]], name: str, op: str) -> Optional[onnx.NodeProto]:
    users = cons.get(name, [])
    return users[0] if len(users) == 1 and users[0].op_type == op else None


def _match(graph: onnx.GraphProto, softmax: onnx.NodeProto, prod, cons) -> Optional[Dict[str, Any]]:
    """The pieces of one timm attention around ``softmax``, or None when it is another pattern."""
    mm1 = prod.get(softmax.input[0])
    mm2 = _single(cons, softmax.output[0], "MatMul")
    if mm1 is None or mm1.op_type != "MatMul" or mm2 is None:
        return None
    t2 = _single(cons, mm2.output[0], "Transpose")
    r1 = _single(cons, t2.output[0], "Reshape") if t2 is not None else None
    mul, kt = prod.get(mm1.input[0]), prod.get(mm1.input[1])
    if r1 is None or mul is None or mul.op_type != "Mul" or kt is None or kt.op_type != "Transpose":
        return None
    sq_q = prod.get(mul.input[0])
    split = prod.get(sq_q.input[0]) if sq_q is not None and sq_q.op_type == "Squeeze" else None
    t0 = prod.get(split.input[0]) if split is not None and split.op_type == "Split" else None
    r0 = prod.get(t0.input[0]) if t0 is not None and t0.op_type == "Transpose" else None
    if r0 is None or r0.op_type != "Reshape":
        return None
    shape = prod.get(r0.input[1])
    heads = _const(graph, prod, shape.input[3]) if shape is not None and shape.op_type == "Concat" else None
    head_dim = _const(graph, prod, shape.input[4]) if heads is not None else None
    scale = _const(graph, prod, mul.input[1])
    if heads is None or head_dim is None or scale is None:
        return None
    return {"x": r0.input[0], "out": r1.output[0], "heads": int(np.ravel(heads)[0]),
            "dim": int(np.ravel(heads)[0]) * int(np.ravel(head_dim)[0]), "scale": float(np.ravel(scale)[0])}


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes whose outputs nothing reads (walking back from the graph outputs)."""
    prod = _producers(graph)
    needed, stack = set(), [o.name for o in graph.output]
    while stack:
        name = stack.pop()
        node = prod.get(name)
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(i for i in node.input if i)
    keep = [n for n in graph.node if id(n) in needed]
    del graph.node[:]
    graph.node.extend(keep)


def fuse_attention(model: onnx.ModelProto) -> int:
    """Rewrite every matched attention in place; returns how many were fused."""
    graph = model.graph
    prod, cons = _producers(graph), _consumers(graph)
    found = [m for m in (_match(graph, n, prod, cons) for n in graph.node if n.op_type == "Softmax") if m]
    for k, m in enumerate(found):
        sizes = numpy_helper.from_array(np.array([m["dim"]] * 3, np.int64), f"mha{k}_split")
        graph.initializer.append(sizes)
        q, kk, v, out = (f"mha{k}_{s}" for s in ("q", "k", "v", "out"))
        graph.node.append(helper.make_node("Split", [m["x"], sizes.name], [q, kk, v], axis=-1, name=f"mha{k}_Split"))
        graph.node.append(helper.make_node("MultiHeadAttention", [q, kk, v], [out], domain=MS_DOMAIN,
                                           num_heads=m["heads"], scale=m["scale"], name=f"mha{k}"))
        for node in cons.get(m["out"], []):
            for i, name in enumerate(node.input):
                if name == m["out"]:
                    node.input[i] = out
    if found:
        if not any(o.domain == MS_DOMAIN for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
        _prune(graph)
        _topological(graph)
    return len(found)


def _topological(graph: onnx.GraphProto) -> None:
    """Order the nodes so every input is produced before it is read (the new nodes were appended)."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError("graph has a cycle or an input nothing produces")
        pending = rest
    copies = [onnx.NodeProto() for _ in ordered]  # copies: the originals belong to the list cleared below
    for c, n in zip(copies, ordered):
        c.CopyFrom(n)
    del graph.node[:]
    graph.node.extend(copies)
