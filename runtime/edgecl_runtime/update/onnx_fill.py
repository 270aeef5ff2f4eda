"""Rebuild an ONNX file of the target bundle from what an update ships for it.

Two shapes travel (both filled by :func:`fill_onnx`, both checked by the exporter, which runs this
very routine on the real file before shipping anything):
- a *patch* (``lists`` present): a ModelProto holding the target's model and graph fields, except
  that each repeated graph field (``node``, ``initializer``, ``input``, ...) holds only the elements
  that differ from the base bundle's same-format file; ``lists[field]`` gives the target length,
  the indices replaced by the patch's elements (in order) and ``moved`` [target, base] index pairs
  (a base element at another place: quantisers may order nodes differently from one export to the
  next); every other element is the base's at the same index. Tasks change the
  head, K/V weights and (INT8) scales, so a patch is a few KB of a file of MBs;
- a *skeleton* (no ``lists``, older updates): the whole target ModelProto with some
  initializers' ``raw_data`` emptied.
Then the fills put back the bytes left out:
- ``{"initializer": name, "from": "base"}``: the base file's same-named initializer;
- ``{"initializer": name, "from": "qkv", "block": b, "transposed": t, "dtype": "float32"|"float16"}``:
  block b's reconstructed qkv weight (:mod:`edgecl_runtime.update.math`), transposed when the
  exporter folded the Linear into a MatMul, cast to ``dtype``;
- the same with ``"dtype": "int8"|"uint8"`` and ``"scale"``, ``"zero_point"`` (initializer names of
  the rebuilt file) and ``"axis"`` (None: per tensor): that weight quantised as ONNX Runtime's
  quantiser does, q = clip(round_half_even(w / scale) + zero_point) in float32, so an INT8 update
  ships the new scales and not the re-quantised weights.
Filling and serialising gives the target file byte for byte: protobuf writes fields in field-number
order. Needs the ``onnx`` package (an optional dependency of ``edgecl-rt update``).
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


GRAPH_LISTS = ("node", "initializer", "input", "output", "value_info", "sparse_initializer",
               "quantization_annotation")  # GraphProto's repeated message fields
QUANT_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}


def quantized_raw(weight: np.ndarray, fill: Mapping[str, Any], inits: Mapping[str, Any]) -> bytes:
    """The bytes of block weight ``weight`` quantised by ONNX Runtime's rule with the scale and zero
    point initializers ``fill`` names (per channel along ``fill["axis"]``, or per tensor)."""
    arr = np.ascontiguousarray(weight.T if fill["transposed"] else weight).astype(np.float32)
    lo, hi = QUANT_RANGES[str(fill["dtype"])]
    scale, zero = (inits.get(str(fill[k])) for k in ("scale", "zero_point"))
    if scale is None or zero is None:
        raise BundleError(f"update fill of {fill['initializer']!r} names a scale or zero point the file "
                          "lacks: the update is damaged")
    scale, zero = _tensor_array(scale).astype(np.float32), _tensor_array(zero).astype(np.float32)
    if fill.get("axis") is not None and scale.ndim == 1:
        shape = [1] * arr.ndim
        shape[int(fill["axis"])] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.rint(arr / scale) + zero
    if not np.isfinite(q).all() or np.shape(q) != arr.shape:
        raise BundleError(f"update fill of {fill['initializer']!r} does not fit its scale: the update is damaged")
    return np.clip(q, lo, hi).astype(np.dtype(str(fill["dtype"]))).tobytes()


def _list_plan(field: str, spec: Mapping[str, Any], new: Any, old: Any) -> Dict[int, Any]:
    """{target index: element} of the patched elements (replaced from the patch, moved from another
    base index); refuses a plan that does not fit the base (another base bundle, or damage)."""
    length, replaced = int(spec["length"]), [int(i) for i in spec["replaced"]]
    moved = {int(i): int(j) for i, j in spec.get("moved", [])}
    ok = 0 <= length <= len(old) + len(replaced) + len(moved)  # before any set of range(length) is built
    ok = ok and len(new) == len(replaced) and replaced == sorted(set(replaced)) and \
        not set(replaced) & set(moved) and len(moved) == len(spec.get("moved", [])) and \
        all(0 <= i < length for i in [*replaced, *moved]) and all(0 <= j < len(old) for j in moved.values()) and \
        set(range(len(old), length)) <= set(replaced) | set(moved)
    if not ok:
        raise BundleError(f"update patch's {field} list does not fit the base model: the update was made "
                          "for another base bundle or is damaged")
    chosen: Dict[int, Any] = dict(zip(replaced, new))
    chosen.update((i, old[j]) for i, j in moved.items())
    return chosen


def _merge_lists(model: Any, source: Any, lists: Mapping[str, Mapping[str, Any]]) -> None:
    """Each patched graph list = the base's elements, with the patch's replacements and the moved
    base elements at their indices."""
    for field, spec in lists.items():
        if field not in GRAPH_LISTS:
            raise BundleError(f"update patch names graph field {field!r}, which edgecl does not patch: "
                              "the update is damaged")
        new, old = getattr(model.graph, field), getattr(source.graph, field)
        chosen = _list_plan(field, spec, new, old)
        merged = []
        for i in range(int(spec["length"])):
            item = type(old[0] if old else new[0])()
            item.CopyFrom(chosen[i] if i in chosen else old[i])
            merged.append(item)
        del new[:]
        new.extend(merged)


def fill_onnx(skeleton: "PathLike | bytes", base: "PathLike | bytes", fills: List[Mapping[str, Any]],
              qkv: Mapping[int, np.ndarray], lists: "Mapping[str, Mapping[str, Any]] | None" = None) -> bytes:
    """The target file's bytes: ``skeleton`` (a patch when ``lists`` is given) merged with the base
    file's lists, then every fill's ``raw_data`` put back; each a path or the bytes already read."""
    model = _load_model(skeleton, "update skeleton")
    source_model = _load_model(base, "base model")
    if lists:
        _merge_lists(model, source_model, lists)
    target, source = initializers(model), initializers(source_model)
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
        elif str(fill["dtype"]) in QUANT_RANGES:
            tensor.raw_data = quantized_raw(qkv[int(fill["block"])], fill, target)
        else:
            tensor.raw_data = qkv_raw(qkv[int(fill["block"])], bool(fill["transposed"]), str(fill["dtype"]))
    return model.SerializeToString()
