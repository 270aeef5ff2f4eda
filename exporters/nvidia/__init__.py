"""The NVIDIA hand-off of a bundle: DeepStream nvinfer configs and labels, Polygraphy golden data,
the TensorRT engine row, and publishing to a Triton model repository."""
from __future__ import annotations

from .._lazy import lazy_names

_WHERE = {
    "write_jetson_files": "jetson", "stamp_all": "jetson",
    "write_deepstream": "deepstream", "deepstream_accuracy": "deepstream", "nvinfer_predictions": "deepstream",
    "config_text": "deepstream", "labels_text": "deepstream",
    "write_polygraphy_golden": "polygraphy", "INPUTS_NAME": "polygraphy", "OUTPUTS_NAME": "polygraphy",
    "tensorrt_entry": "tensorrt", "TRT_MISSING": "tensorrt",
    "publish_triton": "triton", "check_model_name": "triton", "TritonNameError": "triton", "TritonRefused": "triton",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_names(__name__, _WHERE)
