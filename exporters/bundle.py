"""Export bundle: FP32 ONNX (always) + the requested formats of the format table, each gated, with
golden set, NVIDIA hand-off files and manifest.

The bundle is built in a staging directory next to ``out_dir`` and renamed into place only once the
manifest is written, so ``out_dir`` holds either the previous bundle or the complete new one. A
failing FP32 export, golden set or manifest aborts the whole export (nothing is written); a failing
optional format is recorded as ``export_failed`` with a one-line error and the others go on. The
caller turns ``failed_formats(manifest)`` into an exit code.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from edgecl_runtime.atomic_io import staged_dir, write_bytes_atomic, write_json_atomic
from edgecl_runtime.contract import GOLDEN_NAME, MANIFEST_NAME, SIGNATURE_NAME, format_named
from edgecl_runtime.bundle.signing import sign_manifest
from torch import nn

from .formats import TABLE
from .job import Job
from .manifest import FormatEntry, build_manifest, failed_formats, file_entries
from .nvidia.jetson import stamp_all, write_jetson_files
from .onnx.export import export_onnx
from .parity.gate import Reference, gate_onnx, reference
from .parity.golden import select_golden, write_golden
from .parity.sources import BatchSource, as_source, check_batch
from .quantize.int8 import FORMAT as INT8
from .request import ExportData, ExportRequest, checked_stream

FP32 = format_named("fp32")


def export_bundle(model: nn.Module, out_dir: str | Path, request: ExportRequest, data: ExportData) -> dict[str, Any]:
    """Export, gate and write the bundle for ``model`` (a ``Normalized`` ViT); returns the manifest.

    ``request`` says what to export (formats, INT8 options, opset, thresholds, signing key, ...),
    ``data`` what to gate and calibrate on (:mod:`.request`). "trt" also writes ``model.fp16.onnx``
    (TensorRT builds its fp16 engine from it) and, where TensorRT imports, ``model.fp16.plan`` +
    ``model.fp16.plan.json`` as format ``trt_fp16``. Every bundle also gets ``labels.txt``,
    ``deepstream/``, ``polygraphy/`` and ONNX metadata (:mod:`.nvidia.jetson`); with
    ``request.sign_key`` the final manifest is signed into ``manifest.sig`` inside the staging folder.
    """
    int8 = INT8.request in request.formats
    shape = data.check(request, int8)
    test_sets = [as_source(s) for s in data.test_sets]
    golden = data.golden
    if golden is None:
        golden = select_golden(test_sets)
        check_batch(golden[0], shape, "golden inputs")
    calib = data.calib if int8 else None
    if isinstance(calib, BatchSource):
        calib = checked_stream(calib, "calibration inputs")
    with staged_dir(out_dir) as stage:
        ref, fp32 = _fp32_and_golden(model, stage, request, golden, test_sets)
        job = Job(stage, request, ref, calib)
        entries: dict[str, FormatEntry] = {FP32.name: fp32}
        for row in TABLE:
            if row.format.onnx and row.wanted(job):
                entries[row.format.name] = row.export(job, entries)
        stamp_all(stage, entries, request.identity)  # before the engine build and the hashes: both read them
        jetson = write_jetson_files(stage, entries, ref, np.asarray(golden[2]), request.identity,
                                    (data.deepstream_sets, data.deepstream_nearest_sets))
        for row in TABLE:
            if not row.format.onnx and row.wanted(job):
                entries[row.format.name] = row.export(job, entries)
        manifest = build_manifest(request, ref.golden_logits.shape[1], file_entries(stage), entries,
                                  ref.accuracy(), {"max_batch": int(request.max_batch), **jetson})
        write_json_atomic(stage / MANIFEST_NAME, manifest)
        if request.sign_key is not None:
            write_bytes_atomic(stage / SIGNATURE_NAME, sign_manifest(manifest, request.sign_key))
    return manifest


def _fp32_and_golden(model: nn.Module, stage: Path, request: ExportRequest, golden: tuple,
                     test_sets: Sequence[BatchSource]) -> tuple[Reference, FormatEntry]:
    """FP32 ONNX, PyTorch reference logits, golden.npz and the FP32 gate: every failure here aborts."""
    fp32 = stage / FP32.file
    started = time.perf_counter()
    export_onnx(model, fp32, input_shape=request.chw, opset=request.opset, exporter=request.exporter)
    seconds = time.perf_counter() - started
    ref = reference(model, np.asarray(golden[0], dtype=np.float32), test_sets)
    _check_classes(request.classes, ref.golden_logits.shape[1])
    write_golden(stage / GOLDEN_NAME, golden[0], golden[1], golden[2], ref.golden_logits)
    gate = gate_onnx(FP32.name, fp32, ref, request.threshold_table)
    return ref, FormatEntry.gated(fp32.name, True, gate, seconds)


def _check_classes(classes: Sequence[str], k: int) -> None:
    if isinstance(classes, str) or len(classes) != k:
        raise ValueError(f"classes lists {len(classes)} names but the model has {k} outputs")


__all__ = ["export_bundle", "failed_formats"]
