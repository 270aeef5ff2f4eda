"""Rebuild an ONNX file from its skeleton: the graph with some initializers' bytes left out.

An update ships each ONNX file of the target bundle as a *skeleton*: the target ModelProto with the
``raw_data`` of every initializer the device can produce itself emptied, plus a list of fills:
- ``{"initializer": name, "from": "base"}``: the same-named initializer of the base bundle's file
  of the same format (unchanged by the task: patch embedding, MLPs, norms, Q rows' blocks...);
- ``{"initializer": name, "from": "qkv", "block": b, "transposed": t, "dtype": "float32"}``: block
  b's reconstructed qkv weight (:mod:`edgecl_runtime.update.math`), transposed when the exporter
  folded the Linear into a MatMul, cast to ``dtype``.
Everything else (the head, INT8 scales, the graph, metadata) is inside the skeleton. Filling the
bytes back and serialising gives the target file byte for byte: protobuf writes fields in
field-number order and the exporter checked this exact routine against the real file before
shipping the skeleton. Needs the ``onnx`` package (an optional dependency of ``edgecl-rt update``).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping

import numpy as np

from ..errors import BundleError

PathLike = "str | os.PathLike[str]"


def _require_onnx() -> Any:
    """The onnx module; one line saying how to install it when missing."""
    try:
        import onnx
    except ImportError:
        raise BundleError("edgecl-rt update needs the onnx package to rebuild the ONNX files: "
                          "pip install 'edgecl-runtime[update]' (or pip install onnx)") from None
    return onnx


def _load_model(source: "PathLike | bytes", what: str) -> Any:
    """The ModelProto at ``source``, a path or the file's bytes already read (weights inline);
    one-line BundleError when it is not ONNX."""
    onnx = _require_onnx()
    try:
        if isinstance(source, bytes):
            return onnx.load_model_from_string(source)
        with open(source, "rb") as fh:
            return onnx.load_model_from_string(fh.read())
    except Exception as exc:  # OSError, or protobuf's DecodeError (no stable import path)
        shown = "" if isinstance(source, bytes) else f" {source}"
        raise BundleError(f"{what}{shown} is not a readable ONNX model ({type(exc).__name__}); "
                          "re-copy the update") from None


def initializers(model: Any) -> Dict[str, Any]:
    return {t.name: t for t in model.graph.initializer}


def _tensor_array(tensor: Any) -> np.ndarray:
    """An initializer's values (raw_data only: edgecl's exporters never write typed fields for weights)."""
    onnx = _require_onnx()
    return onnx.numpy_helper.to_array(tensor)


FP16_TINY = np.float32(5.96e-08)  # the FP16 converter's smallest kept magnitude (2**-24, rounded)
FP16_HUGE = np.float32(65504.0)  # float16's largest finite value


def to_float16(x: np.ndarray) -> np.ndarray:
    """float32 -> float16 by the rule of the bundle's FP16 converter (onnxruntime.transformers.float16):
    non-zero magnitudes below 5.96e-8 become +-5.96e-8 and finite ones above 65504 become +-65504
    (sign and finiteness are kept, no weight flushes to zero or overflows), then round to nearest."""
    x = np.asarray(x, dtype=np.float32)
    x = np.where((x > 0) & (x < FP16_TINY), FP16_TINY, x)
    x = np.where((x < 0) & (x > -FP16_TINY), -FP16_TINY, x)
    x = np.where((x > FP16_HUGE) & np.isfinite(x), FP16_HUGE, x)
    x = np.where((x < -FP16_HUGE) & np.isfinite(x), -FP16_HUGE, x)
    return x.astype(np.float16)


def qkv_raw(weight: np.ndarray, transposed: bool, dtype: str) -> bytes:
    """The little-endian bytes an initializer holding block weight ``weight`` has (float32, or float16
    as the FP16 converter writes it: :func:`to_float16`)."""
    arr = np.ascontiguousarray(weight.T if transposed else weight)
    if dtype == "float16":
        return to_float16(arr).astype("<f2").tobytes()
    return arr.astype(np.dtype(dtype).newbyteorder("<")).tobytes()


def base_qkv(base_fp32: PathLike, sources: Mapping[str, Mapping[str, Any]]) -> Dict[int, np.ndarray]:
    """{block: float32 qkv weight (3d x d)} read from the base bundle's FP32 ONNX initializers."""
    inits = initializers(_load_model(base_fp32, "base model"))
    out = {}
    for block, src in sources.items():
        tensor = inits.get(str(src["initializer"]))
        if tensor is None:
            raise BundleError(f"base model has no initializer {src['initializer']!r}: the update was made "
                              "for another base bundle")
        arr = _tensor_array(tensor)
        out[int(block)] = np.ascontiguousarray(arr.T if src.get("transposed") else arr).astype(np.float32)
    return out


def fill_onnx(skeleton: "PathLike | bytes", base: PathLike, fills: List[Mapping[str, Any]],
              qkv: Mapping[int, np.ndarray]) -> bytes:
    """The target file's bytes: ``skeleton`` (a path or its bytes) with every fill's ``raw_data`` put back."""
    model = _load_model(skeleton, "update skeleton")
    target, source = initializers(model), initializers(_load_model(base, "base model"))
    for fill in fills:
        name = str(fill["initializer"])
        tensor = target.get(name)
        if tensor is None:
            raise BundleError(f"update skeleton lacks initializer {name!r}: the update is damaged")
        if fill["from"] == "base":
            found = source.get(name)
            if found is None or list(found.dims) != list(tensor.dims) or found.data_type != tensor.data_type:
                raise BundleError(f"base model has no initializer {name!r} of the expected shape: "
                                  "the update was made for another base bundle")
            tensor.raw_data = found.raw_data
        else:
            tensor.raw_data = qkv_raw(qkv[int(fill["block"])], bool(fill["transposed"]), str(fill["dtype"]))
    return model.SerializeToString()
