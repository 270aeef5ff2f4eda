"""Whether this TensorRT's ONNX parser can read a model, decided before the build starts.

TensorRT 8.5 (JetPack 5.1) has no ONNX LayerNormalization (added in 8.6): an opset-17 ViT export
holds LayerNormalization nodes and fails with "Plugin not found" after minutes of parsing.  Opset
16 exports decompose LayerNorm into ReduceMean/Sub/Pow/Sqrt/Div, which 8.5 parses.  The rule is a
pure function of (TensorRT version, opset, op types) so it is tested without TensorRT.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional

from ...errors import EngineError
from .onnx_scan import scan_bytes, scan_onnx
from .compat import version_tuple

LAYERNORM_SINCE = (8, 6)  # first TensorRT whose ONNX parser has LayerNormalization
MAX_OPSET_BEFORE = 16  # the opset that still decomposes LayerNorm


def parser_problem(trt_version: str, opset: int, op_types: Iterable[str]) -> Optional[str]:
    """Why TensorRT ``trt_version`` cannot parse a model with this opset/ops (None: it can)."""
    if version_tuple(trt_version)[:2] >= LAYERNORM_SINCE:
        return None
    if "LayerNormalization" in set(op_types):
        found = "LayerNormalization nodes"
    elif opset > MAX_OPSET_BEFORE:
        found = f"opset {opset}"
    else:
        return None
    return (f"TensorRT {trt_version} cannot parse this model ({found}; its ONNX parser has no "
            f"LayerNormalization before 8.6); re-export with `--opset {MAX_OPSET_BEFORE}`")


def check_parser_support(trt_version: str, onnx_model: "bytes | str | os.PathLike[str]",
                         name: Optional[str] = None) -> None:
    """EngineError (one line) when the model (its checked bytes, or a path) needs a newer TensorRT
    ONNX parser; ``name`` names bytes in the message."""
    if version_tuple(trt_version)[:2] >= LAYERNORM_SINCE:
        return  # no need to read a large model
    label = name or ("model" if isinstance(onnx_model, bytes) else Path(onnx_model).name)
    if isinstance(onnx_model, bytes):
        try:
            opset, ops = scan_bytes(onnx_model)
        except ValueError as exc:
            raise EngineError(f"{label} is not a readable ONNX model ({exc}); re-export the bundle") from None
    else:
        opset, ops = scan_onnx(onnx_model)
    problem = parser_problem(trt_version, opset, ops)
    if problem:
        raise EngineError(f"{label}: {problem}")
