"""The files that let NVIDIA's own tools take a bundle as it is: ONNX metadata, DeepStream configs and
labels, Polygraphy golden data. Called by :func:`..bundle.export_bundle` inside the
staging folder, before the manifest is built, so every file (and every stamped ONNX) is hashed in
``files`` like the others.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from edgecl_runtime.contract import ONNX_FILES, TRT_PRECISIONS

from ..manifest import FormatEntry
from ..onnx.metadata import BundleIdentity, stamp_onnx
from ..parity.gate import Reference
from ..parity.sources import BatchSource
from .deepstream import deepstream_accuracy, deepstream_record, nvinfer_accuracy, write_deepstream
from .polygraphy import write_polygraphy_golden

NVINFER_RESIZE = ("plain resize of the original image to {h}x{w} (bilinear without antialiasing, no crop), as "
                  "nvinfer scales with the configs' scaling-filter=1")
SAME_AS_EVAL = "the evaluation preprocessing (the images already are {h}x{w}: no filter scales them)"
Sets = Sequence[Any]  # test sets: (inputs, labels) pairs or BatchSources


def exported_onnx(entries: Mapping[str, FormatEntry]) -> dict[str, str]:
    """{precision: ONNX file} of every ONNX format that was written (passed or failed its gate)."""
    return {p: f for p, f in ONNX_FILES.items() if p in entries and entries[p].file == f}


def stamp_all(stage: Path, entries: Mapping[str, FormatEntry], identity: BundleIdentity) -> None:
    """Write edgecl's ``metadata_props`` and ``model_version = task`` into every exported ONNX."""
    for precision, name in exported_onnx(entries).items():
        stamp_onnx(stage / name, identity.metadata(precision), model_version=identity.task)


def write_jetson_files(stage: Path, entries: Mapping[str, FormatEntry], ref: Reference, golden_task_ids: np.ndarray,
                       identity: BundleIdentity,
                       deepstream_sets: tuple[Sets | None, Sets | None]) -> dict[str, Any]:
    """DeepStream configs + labels (with the nvinfer-preprocessing accuracy) and Polygraphy golden
    data; returns the manifest entries ``{"deepstream": ..., "polygraphy": ...}``.

    ``deepstream_sets``: (bilinear, nearest) test sets preprocessed as nvinfer does with each
    filter, run through the FP32 ONNX. None: when the input spec
    has no shorter-side resize and the images already have the network's size nothing is scaled,
    so the reference logits of ``ref`` are used for both filters (the FP32 gate showed the ONNX
    agrees with them); otherwise the accuracy is recorded as not measured (null).
    """
    bilinear, nearest = deepstream_sets
    trt_onnx = {p: f for p, f in exported_onnx(entries).items() if p in TRT_PRECISIONS}  # TensorRT's files only
    input_spec = identity.input_spec
    configs = write_deepstream(stage, classes=identity.classes, input_spec=input_spec, onnx_files=trt_onnx,
                               run=identity.run, task=identity.task)
    size = {"h": input_spec["crop"], "w": input_spec["crop"]}
    measured, near, how = None, None, NVINFER_RESIZE.format(**size)
    if bilinear is not None:
        measured = deepstream_accuracy(stage / ONNX_FILES["fp32"], bilinear)
        near = deepstream_accuracy(stage / ONNX_FILES["fp32"], nearest) if nearest is not None else None
    elif input_spec.get("resize") is None:  # same images as the reference: its logits, no second read
        measured = near = nvinfer_accuracy(ref.test_logits, [s.labels for s in ref.test_sets])
        how = SAME_AS_EVAL.format(**size)
    pytorch = ref.accuracy()["accuracy"]
    polygraphy = write_polygraphy_golden(stage, ref.golden_inputs, ref.golden_logits, golden_task_ids)
    record = deepstream_record(configs, measured, pytorch, how)
    record["nearest_accuracy_pct"] = None if near is None else near["accuracy_pct"]
    record["nearest_accuracy_delta_pp"] = None if near is None else round(near["accuracy_pct"] - pytorch, 4)
    return {"deepstream": record, "polygraphy": polygraphy}


__all__ = ["stamp_all", "write_jetson_files", "exported_onnx"]
