"""Room for the classifier to grow: pad a bundle's head before a refittable TensorRT build.

A refit replaces weight values, never their count (``setNamedWeights`` refuses a changed count:
TensorRT's "Refitting an Engine" guide), and every class-incremental task adds rows to the head.
So ``edgecl-rt build --refittable`` parses the bundle's ONNX with its last layer (a Gemm, or a
MatMul + Add, possibly followed by Cast) widened to ``capacity`` classes: zero weights and a bias of
``PAD_BIAS`` for the rows no task uses yet, so a padded logit never wins an argmax nor takes
softmax mass, even in a consumer that reads the engine's whole output. The runtime returns only
the bundle's classes; a later task's head, padded the same way, has the same shapes, so its
weights refit into the same engine. Needs the ``onnx`` package.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from ...errors import EngineError

DEFAULT_CAPACITY = 256
PAD_BIAS = -1.0e4  # finite in float16 (max 65504); exp(-1e4) is 0 in every float type
PASS_THROUGH = ("Cast", "Identity")


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise EngineError("--refittable needs the onnx package to size the engine's head: "
                          "pip install onnx") from None
    return onnx


def _head(graph: Any) -> Tuple[Any, List[str]]:
    """(the node computing the logits, names of the tensors from it to the graph output)."""
    if len(graph.output) != 1:
        raise EngineError("--refittable needs a model with one output; build without --refittable")
    producer = {o: n for n in graph.node for o in n.output}
    path, name = [], graph.output[0].name
    node = producer.get(name)
    while node is not None and node.op_type in PASS_THROUGH:
        path.append(name)
        name = node.input[0]
        node = producer.get(name)
    if node is None:
        raise EngineError("the model's output is not computed by a layer; build without --refittable")
    return node, path + [name]


def _weight_and_bias(graph: Any, node: Any) -> Tuple[str, int, str]:
    """(weight initializer, its class axis, bias initializer) of the head ``node``."""
    inits = {t.name for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    if node.op_type == "Gemm" and len(node.input) == 3:
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        weight, bias, axis = node.input[1], node.input[2], 0 if trans_b else 1
    elif node.op_type == "Add":
        matmul = next((producer[i] for i in node.input if i in producer and producer[i].op_type == "MatMul"), None)
        bias = next((i for i in node.input if i in inits), "")
        weight, axis = (matmul.input[1] if matmul is not None else ""), 1
    else:
        raise EngineError(f"the model's head is a {node.op_type} layer, not Gemm or MatMul + Add; "
                          "build without --refittable")
    if weight not in inits or bias not in inits:
        raise EngineError("the model's head weights are not plain initializers (quantised?); "
                          "build without --refittable")
    return weight, axis, bias


def pad_head(data: bytes, capacity: int) -> Tuple[bytes, int]:
    """(the model's bytes with its head widened to ``capacity`` classes, its own class count)."""
    onnx = _onnx()
    model = onnx.load_model_from_string(data)
    graph = model.graph
    node, path = _head(graph)
    weight_name, axis, bias_name = _weight_and_bias(graph, node)
    inits: Dict[str, Any] = {t.name: t for t in graph.initializer}
    weight = onnx.numpy_helper.to_array(inits[weight_name])
    classes = int(weight.shape[axis])
    if capacity < classes:
        raise EngineError(f"the head has {classes} classes, more than --head-capacity {capacity}; "
                          f"pass --head-capacity {classes} or more")
    widths = [(0, 0)] * weight.ndim
    widths[axis] = (0, capacity - classes)
    bias = onnx.numpy_helper.to_array(inits[bias_name])
    padded = {weight_name: np.pad(weight, widths),
              bias_name: np.pad(bias, (0, capacity - classes), constant_values=PAD_BIAS).astype(bias.dtype)}
    for name, arr in padded.items():
        inits[name].CopyFrom(onnx.numpy_helper.from_array(arr, name))
    graph.output[0].type.tensor_type.shape.dim[-1].Clear()
    graph.output[0].type.tensor_type.shape.dim[-1].dim_value = capacity
    keep = [v for v in graph.value_info if v.name not in path]  # shapes on the path changed: let the parser infer
    del graph.value_info[:]
    graph.value_info.extend(keep)
    return model.SerializeToString(), classes
