"""edgecl.exporters: PyTorch ViT -> ONNX FP32 / FP16 / INT8 / CPU INT8 (+ TensorRT), gated, as one bundle.

Public API (imported lazily, so ``import edgecl.exporters.golden`` does not pull in the quantiser):

* ``export_bundle(model, out_dir, ...) -> manifest`` and ``failed_formats(manifest)`` (bundle.py)
* ``export_onnx(model, path, input_shape=..., opset=17, exporter="torchscript")`` (onnx_export.py)
* ``convert_fp16(src, dst)`` (fp16.py), ``quantize_int8(src, dst, calib)`` (int8.py),
  ``quantize_int8_cpu(src, dst)`` (int8_cpu.py: ONNX Runtime CPU only)
* ``stratified_sample(labels, n, seed)`` (sampling.py)
* ``select_golden``, ``write_golden``, ``read_golden`` (golden.py)
* ``publish_triton(bundle_dir, repo, name)`` (triton.py); DeepStream, Polygraphy and ONNX metadata
  files are written by ``export_bundle`` (jetson_files.py)
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "export_bundle": "bundle", "failed_formats": "manifest", "export_onnx": "onnx_export",
    "ExportError": "onnx_export", "convert_fp16": "fp16", "quantize_int8": "int8", "quantize_int8_cpu": "int8_cpu",
    "stratified_sample": "sampling", "select_golden": "golden", "write_golden": "golden",
    "read_golden": "golden", "publish_triton": "triton",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'edgecl.exporters' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
