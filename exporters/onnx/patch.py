"""The trainer's half of :mod:`edgecl_runtime.update.onnx_fill`: cut an ONNX file down to a patch.

A patch keeps, of each repeated graph field, only the elements that differ from the base bundle's
same-format file (a task changes the head, the K/V weights and, in INT8 files, scales; an element
the base holds at another index travels as a move), and empties
every kept initializer whose bytes the device can produce: equal to a reconstructed qkv weight of
some block, plain or transposed, in the initializer's float type, or that weight quantised with the
file's own scale and zero point (ONNX Runtime's rule). The result is kept only when the device's own
routine, run here, gives the target file back byte for byte; otherwise the caller ships the file
whole (and says so in the update).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import onnx
from edgecl_runtime.update.onnx_fill import (GRAPH_LISTS, QUANT_RANGES, fill_onnx, initializers, qkv_raw,
                                             quantized_raw)

FLOATS = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16"}
INTS = {onnx.TensorProto.INT8: "int8", onnx.TensorProto.UINT8: "uint8"}
assert set(INTS.values()) == set(QUANT_RANGES)


def _orientations(weight: np.ndarray, tensor: onnx.TensorProto) -> list[bool]:
    """Whether ``tensor`` could hold ``weight`` transposed (True) or as it is (False), by its dims."""
    dims = list(tensor.dims)
    return [t for t, shape in ((True, weight.T.shape), (False, weight.shape)) if list(shape) == dims]


def _quant_params(tensor: onnx.TensorProto, model: onnx.ModelProto) -> list[dict[str, Any]]:
    """Where ``tensor``'s scale and zero point live: the DequantizeLinear reading it (Q/DQ files),
    or ``<stem>_scale`` / ``<stem>_zero_point`` (ONNX Runtime's dynamic quantiser's names)."""
    found = []
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.input and node.input[0] == tensor.name and len(node.input) == 3:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            found.append({"scale": node.input[1], "zero_point": node.input[2], "axis": int(axis)})
    stem = tensor.name[:-len("_quantized")] if tensor.name.endswith("_quantized") else tensor.name
    found.append({"scale": f"{stem}_scale", "zero_point": f"{stem}_zero_point", "axis": None})
    return found


def _qkv_fill(tensor: onnx.TensorProto, qkv: Mapping[int, np.ndarray], model: onnx.ModelProto,
              inits: Mapping[str, onnx.TensorProto]) -> dict[str, Any] | None:
    """The fill that gives ``tensor``'s bytes from some block's qkv weight, or None."""
    if not tensor.raw_data:
        return None
    for block, weight in qkv.items():
        for transposed in _orientations(weight, tensor):
            base = {"initializer": tensor.name, "from": "qkv", "block": int(block), "transposed": transposed}
            if tensor.data_type in FLOATS:
                dtype = FLOATS[tensor.data_type]
                if tensor.raw_data == qkv_raw(weight, transposed, dtype):
                    return {**base, "dtype": dtype}
            elif tensor.data_type in INTS:
                for params in _quant_params(tensor, model):
                    fill = {**base, "dtype": INTS[tensor.data_type], **params}
                    if _quantizes_to(weight, fill, inits, tensor.raw_data):
                        return fill
    return None


def _quantizes_to(weight: np.ndarray, fill: Mapping[str, Any], inits: Mapping[str, onnx.TensorProto],
                  raw: bytes) -> bool:
    """True when the device's quantisation of ``weight`` by ``fill`` gives ``raw``."""
    try:
        return quantized_raw(weight, fill, inits) == raw
    except Exception:  # a name that is not a scale, shapes that do not broadcast: not this fill
        return False


def _cut(new: Any, old: Any) -> dict[str, Any]:
    """Cut the repeated field ``new`` down to the elements the base list ``old`` lacks; returns the
    field's plan: target length, indices replaced (kept, in order), [target, base] pairs moved."""
    old_bytes = [item.SerializeToString() for item in old]
    where: dict[bytes, int] = {}
    for j, data in enumerate(old_bytes):
        where.setdefault(hashlib.sha256(data).digest(), j)
    replaced, moved = [], []
    for i, item in enumerate(new):
        data = item.SerializeToString()
        if i < len(old_bytes) and data == old_bytes[i]:
            continue
        j = where.get(hashlib.sha256(data).digest())
        if j is None:
            replaced.append(i)
        else:
            moved.append([i, j])
    plan = {"length": len(new), "replaced": replaced, "moved": moved}
    kept = [type(new[i])() for i in replaced]
    for item, i in zip(kept, replaced):
        item.CopyFrom(new[i])
    del new[:]
    new.extend(kept)
    return plan


def make_patch(target: Path, base: Path, qkv: Mapping[int, np.ndarray]
               ) -> tuple[bytes, dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """(patch bytes, lists, fills) for ``target`` given the base bundle's same-format file ``base``."""
    return _patch(target.read_bytes(), base.read_bytes(), qkv)


def _patch(target: bytes, base: bytes, qkv: Mapping[int, np.ndarray]
           ) -> tuple[bytes, dict[str, dict[str, Any]], list[dict[str, Any]]]:
    model = onnx.load_model_from_string(target)
    source = onnx.load_model_from_string(base)
    inits = initializers(model)  # the whole target's, before the lists are cut: scales live here
    fills: list[dict[str, Any]] = []
    for tensor in model.graph.initializer:
        fill = _qkv_fill(tensor, qkv, model, inits)
        if fill is not None:
            fills.append(fill)
    lists = {field: _cut(getattr(model.graph, field), getattr(source.graph, field))
             for field in GRAPH_LISTS if getattr(model.graph, field) or getattr(source.graph, field)}
    kept = {t.name for t in model.graph.initializer}
    fills = [f for f in fills if f["initializer"] in kept]
    derived = {f["initializer"] for f in fills}
    base_inits = initializers(source)
    for tensor in model.graph.initializer:  # kept for its place only: its bytes are the base's
        found = base_inits.get(tensor.name)
        if tensor.raw_data and tensor.name not in derived and found is not None \
                and found.raw_data == tensor.raw_data and found.dims == tensor.dims \
                and found.data_type == tensor.data_type:
            fills.append({"initializer": tensor.name, "from": "base"})
    filled = {f["initializer"] for f in fills}
    for tensor in model.graph.initializer:
        if tensor.name in filled:
            tensor.raw_data = b""
    return model.SerializeToString(), lists, fills


def reproducible_patch(target: Path, base: Path, qkv: Mapping[int, np.ndarray]
                       ) -> tuple[bytes, dict[str, dict[str, Any]], list[dict[str, Any]]] | None:
    """:func:`make_patch` if the device routine rebuilds ``target`` exactly from it, else None
    (each file read once)."""
    target_bytes, base_bytes = target.read_bytes(), base.read_bytes()
    patch, lists, fills = _patch(target_bytes, base_bytes, qkv)
    rebuilt = fill_onnx(patch, base_bytes, fills, qkv, lists)
    return (patch, lists, fills) if rebuilt == target_bytes else None
