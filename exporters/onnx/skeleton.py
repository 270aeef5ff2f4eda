"""The trainer's half of :mod:`edgecl_runtime.update.onnx_fill`: cut an ONNX file down to its skeleton.

Every initializer of the target file whose bytes a device can produce is emptied and listed as a
fill: bytes equal to the base file's same-named initializer (``base``), or equal to a reconstructed
qkv weight of some block, plain or transposed, in the initializer's float type (``qkv``). The rest
stays inline. The result is kept only when the device's own routine, run here, gives the target
file back byte for byte; otherwise the caller ships the file whole (and says so in the update).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import onnx
from edgecl_runtime.update.onnx_fill import fill_onnx, initializers, qkv_raw

FLOATS = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16"}


def _qkv_fill(tensor: onnx.TensorProto, qkv: Mapping[int, np.ndarray]) -> dict[str, Any] | None:
    dtype = FLOATS.get(tensor.data_type)
    if dtype is None or not tensor.raw_data:
        return None
    for block, weight in qkv.items():
        for transposed in (True, False):
            shape = weight.T.shape if transposed else weight.shape
            if list(tensor.dims) == list(shape) and tensor.raw_data == qkv_raw(weight, transposed, dtype):
                return {"initializer": tensor.name, "from": "qkv", "block": int(block),
                        "transposed": transposed, "dtype": dtype}
    return None


def make_skeleton(target: Path, base: Path, qkv: Mapping[int, np.ndarray]) -> tuple[bytes, list[dict[str, Any]]]:
    """(skeleton bytes, fills) for ``target`` given the base bundle's same-format file ``base``."""
    model = onnx.load_model_from_string(target.read_bytes())
    source = initializers(onnx.load_model_from_string(base.read_bytes()))
    fills: list[dict[str, Any]] = []
    for tensor in model.graph.initializer:
        found = source.get(tensor.name)
        if tensor.raw_data and found is not None and found.raw_data == tensor.raw_data \
                and list(found.dims) == list(tensor.dims) and found.data_type == tensor.data_type:
            fills.append({"initializer": tensor.name, "from": "base"})
        else:
            fill = _qkv_fill(tensor, qkv)
            if fill is None:
                continue
            fills.append(fill)
        tensor.raw_data = b""
    return model.SerializeToString(), fills


def reproducible_skeleton(target: Path, base: Path, qkv: Mapping[int, np.ndarray],
                          scratch: Path) -> tuple[bytes, list[dict[str, Any]]] | None:
    """:func:`make_skeleton` if the device routine rebuilds ``target`` exactly from it, else None."""
    skeleton, fills = make_skeleton(target, base, qkv)
    scratch.write_bytes(skeleton)
    try:
        rebuilt = fill_onnx(scratch, base, fills, qkv)
    finally:
        scratch.unlink(missing_ok=True)
    return (skeleton, fills) if rebuilt == target.read_bytes() else None
