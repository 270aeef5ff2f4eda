"""ONNX files of a bundle: the FP32 export (with its parity check), the FP16 conversion, the
metadata every file is stamped with, and the patches an over-the-air update ships."""
from __future__ import annotations

from .._lazy import lazy_names

_WHERE = {
    "export_onnx": "export", "check_graph": "export", "check_parity": "export", "ExportError": "export",
    "EXPORTERS": "export", "DEFAULT_EXPORTER": "export", "INPUT_NAME": "export", "OUTPUT_NAME": "export",
    "convert_fp16": "fp16", "FP32_OPS": "fp16",
    "BundleIdentity": "metadata", "metadata_for": "metadata", "stamp_onnx": "metadata", "read_metadata": "metadata",
    "make_patch": "patch", "reproducible_patch": "patch",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_names(__name__, _WHERE)
