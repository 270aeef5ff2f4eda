"""The fake ``tensorrt``'s DLA placement rule (what ``IBuilderConfig.can_run_on_DLA`` answers)."""
from __future__ import annotations

from typing import Any


def _v(version: str) -> tuple:
    return tuple(int(p) for p in version.split(".")[:2])


# What the DLA cannot run, from TensorRT's "DLA Supported Layers and Restrictions" page (the
# facts gathered in shared/notes): no dynamic dimensions ("the profile's min, max, and opt values
# must be equal"); activations ReLU/Sigmoid/TanH/Clip only, so GELU's Erf stays on the GPU; no
# normalization layer; no layer pinned to FP32; TensorRT 8.x's DLA does not run explicit (Q/DQ)
# quantization; TensorRT 11.0-11.2 have no DLA at all (11.3 docs: "not supported in 11.0-11.2").
# DeepStream agrees on the shapes: nvdsinfer_model_builder.cpp (createDynamicParams) sets
# minBatchSize = maxBatchSize when it builds for a DLA.
_NOT_ON_DLA = {"NORMALIZATION", "GATHER", "SHAPE", "CONSTANT", "CAST"}


def _dynamic_profile(config: Any) -> bool:
    return any(mn != mx for p in config.profiles for mn, _, mx in p.shapes.values())


def _dla_capable(trt: Any, config: Any, layer: Any) -> bool:
    """``IBuilderConfig::canRunOnDLA`` as the DLA restrictions above make it answer."""
    v = _v(trt.__version__)
    if (11, 0) <= v < (11, 3) or _dynamic_profile(config):
        return False
    kind = layer.type.name
    if kind in _NOT_ON_DLA or "Erf" in layer.name or layer._precision == trt.float32:
        return False
    if kind in ("QUANTIZE", "DEQUANTIZE") and v < (10, 0):
        return False
    return all(t.dtype in (trt.float32, trt.float16, trt.int8) for t in layer._outputs)
