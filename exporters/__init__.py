"""edgecl.exporters: PyTorch ViT -> a gated bundle of ONNX FP32 / FP16 / INT8 / CPU INT8 (+ TensorRT).

``export_bundle(model, out_dir, ExportRequest(...), ExportData(...))`` is the one entry; the
sub-packages (``onnx``, ``quantize``, ``parity``, ``nvidia``) build the files it gates and ships.
"""
from __future__ import annotations

from ._lazy import lazy_names

_WHERE = {
    "export_bundle": "bundle", "ExportRequest": "request", "ExportData": "request",
    "failed_formats": "manifest", "FormatEntry": "manifest", "TABLE": "formats", "REQUESTS": "formats",
    "export_onnx": "onnx.export", "ExportError": "onnx.export", "convert_fp16": "onnx.fp16",
    "Int8Options": "quantize.calibration", "CALIBRATIONS": "quantize.calibration",
    "quantize_int8": "quantize.int8", "quantize_int8_cpu": "quantize.int8cpu",
    "BatchSource": "parity.sources", "stratified_sample": "parity.sampling", "GateResult": "parity.gate",
    "select_golden": "parity.golden", "write_golden": "parity.golden", "read_golden": "parity.golden",
    "publish_triton": "nvidia.triton",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_names(__name__, _WHERE)
