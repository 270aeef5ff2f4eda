"""Export bundle: FP32 ONNX (always) + requested formats, each gated, with golden set and manifest.

The bundle is built in a staging directory next to ``out_dir`` and renamed into place only once the
manifest is written, so ``out_dir`` holds either the previous bundle or the complete new one. A
failing FP32 export, golden set or manifest aborts the whole export (nothing is written); a failing
optional format is recorded as ``export_failed`` with a one-line error and the others go on. The
caller turns ``failed_formats(manifest)`` into an exit code.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import onnx
from edgecl_runtime.atomic_io import staged_dir, write_bytes_atomic, write_json_atomic
from edgecl_runtime.contract import (
    GOLDEN_NAME,
    MANIFEST_NAME,
    ONNX_FILES,
    SIGNATURE_NAME,
    REQUESTS,
    format_named,
)
from edgecl_runtime.bundle.gate import merge_thresholds
from edgecl_runtime.inputs.preprocess import check_spec, spec_chw
from edgecl_runtime.bundle.signing import sign_manifest
from edgecl_runtime.backends.trt.compat import NO_TENSORRT, tensorrt_available
from torch import nn

from .fp16 import convert_fp16
from .gate_run import Reference, gate_onnx, gate_runner, reference
from .golden import select_golden, write_golden
from .sources import BatchSource, as_source, check_batch
from .int8 import int8_settings, quantize_int8
from .int8_cpu import quantize_int8_cpu
from .int8_cpu_fallback import cpu_matmul_record, run_cpu_fallback
from .int8_fallback import matmul_record, run_fallback
from .int8_methods import gate_across_methods
from .jetson_files import stamp_all, write_jetson_files
from .manifest import build_manifest, failed_formats, file_entries, format_entry
from .onnx_export import DEFAULT_EXPORTER, export_onnx

FORMATS = REQUESTS  # what a caller may request; fp32 is always exported
FILES = ONNX_FILES
GateFn = Callable[[Path], tuple[Mapping[str, Any], dict[str, Any]]]
TRT_KEY = format_named("trt_fp16").name
TRT_MISSING = f"{NO_TENSORRT.split(';')[0]}; build the engine on the device with `edgecl-rt build BUNDLE`"

__all__ = ["export_bundle", "failed_formats", "FORMATS", "FILES"]


def export_bundle(
    model: nn.Module,
    out_dir: str | Path,
    *,
    classes: Sequence[str],
    input_spec: Mapping[str, Any],
    golden: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    test_sets: Sequence[tuple[np.ndarray, np.ndarray] | BatchSource],
    calib: np.ndarray | BatchSource | None = None,
    formats: set[str] | frozenset[str] = frozenset(),
    opset: int = 17,
    max_batch: int = 32,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
    run_name: str = "",
    task: int = 0,
    exporter: str = DEFAULT_EXPORTER,
    int8_options: Mapping[str, Any] | None = None,
    sign_key: Any = None,
    deepstream_sets: Sequence[tuple[np.ndarray, np.ndarray] | BatchSource] | None = None,
) -> dict[str, Any]:
    """Export, gate and write the bundle for ``model`` (a ``Normalized`` ViT); returns the manifest.

    ``golden`` = (inputs float32 (N,C,H,W) in [0, 1], labels (N,), task_ids (N,) 1-based), or None
    for :func:`select_golden` over ``test_sets``;
    ``test_sets`` = one test set per seen task, (inputs, labels) arrays or a
    :class:`~edgecl.exporters.sources.BatchSource` (streamed: the reference, every gate and the golden
    selection read it batch by batch and keep only logits, labels and the golden images);
    ``calib`` = INT8 calibration inputs, an array or a ``BatchSource`` (streamed too; needed when
    "int8" is requested). ``formats`` is a subset of {"fp16", "int8", "int8cpu", "trt"} ("int8cpu":
    ``model.int8cpu.onnx`` for ONNX Runtime on CPU, :mod:`.int8_cpu`); "trt" also writes
    ``model.fp16.onnx`` (TensorRT >= 11 builds fp16 engines from it) and, where TensorRT imports,
    ``model.fp16.plan`` + ``model.fp16.plan.json`` (the runtime's naming) as format ``trt_fp16``. ``thresholds`` overrides
    ``edgecl_runtime.gate.DEFAULT_THRESHOLDS``. ``int8_options`` go to :func:`quantize_int8`.
    ``sign_key`` (an Ed25519 private key, :func:`edgecl_runtime.signing.load_private_key`): the
    final manifest is signed into ``manifest.sig`` inside the staging folder, so the bundle is
    published signed in one rename, never unsigned for a moment.
    ``deepstream_sets``: the seen tasks' test sets preprocessed as DeepStream's nvinfer does (plain
    resize, no crop) for ``manifest["deepstream"]["accuracy_pct"]`` (see :mod:`.jetson_files`).
    Every bundle also gets ``labels.txt``, ``deepstream/``, ``polygraphy/`` and ONNX metadata.
    """
    fmts = _check_formats(formats, calib)
    shape = _check_inputs(input_spec, golden, test_sets, calib if "int8" in fmts else None)
    test_sets = [as_source(s) for s in test_sets]
    if golden is None:
        golden = select_golden(test_sets)
        check_batch(golden[0], shape, "golden inputs")
    table = merge_thresholds(thresholds)
    int8_settings(int8_options if "int8" in fmts else None)  # unknown option names fail before any work
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    with staged_dir(out_dir) as stage:
        ref, entries = _fp32_and_golden(model, stage, shape, opset, exporter, golden, test_sets, classes, table)
        if fmts & {"fp16", "trt"}:
            fp32 = stage / FILES["fp32"]
            entries["fp16"] = _optional("fp16", "fp16" in fmts, stage, ref, table, lambda p: convert_fp16(fp32, p))
        if "int8" in fmts:
            entries["int8"] = _int8_entry(stage, ref, table, calib, int8_options)
        if "int8cpu" in fmts:  # ONNX Runtime CPU's INT8 (dynamic, no calibration): .int8_cpu
            entries["int8cpu"] = _int8cpu_entry(stage, ref, table, calib if "int8" in fmts else None)
        names = dict(classes=[str(c) for c in classes], task=task, input_spec=input_spec, run=run_name)
        stamp_all(stage, entries, **names)  # before the engine build and the hashes: both read these files
        jetson = write_jetson_files(stage, entries, ref, np.asarray(golden[2]), deepstream_sets=deepstream_sets,
                                    **names)
        if "trt" in fmts:
            entries[TRT_KEY] = _trt_entry(stage, entries, ref, table, max_batch)
        manifest = build_manifest(
            run=run_name, task=task, classes=[str(c) for c in classes], input_spec=input_spec,
            num_classes=ref.golden_logits.shape[1], opset=opset, exporter=exporter,
            files=file_entries(stage), formats=entries, pytorch=ref.accuracy(), thresholds=table,
            extra={"max_batch": int(max_batch), **jetson},
        )
        write_json_atomic(stage / MANIFEST_NAME, manifest)
        if sign_key is not None:
            write_bytes_atomic(stage / SIGNATURE_NAME, sign_manifest(manifest, sign_key))
    return manifest


def _fp32_and_golden(model: nn.Module, stage: Path, shape: tuple[int, int, int], opset: int, exporter: str,
                     golden: tuple, test_sets: Sequence, classes: Sequence[str], table: Mapping[str, Any]
                     ) -> tuple[Reference, dict[str, Any]]:
    """FP32 ONNX, PyTorch reference logits, golden.npz and the FP32 gate: every failure here aborts."""
    fp32 = stage / FILES["fp32"]
    started = time.perf_counter()
    export_onnx(model, fp32, input_shape=shape, opset=opset, exporter=exporter)
    seconds = time.perf_counter() - started
    ref = reference(model, np.asarray(golden[0], dtype=np.float32), test_sets)
    _check_classes(classes, ref.golden_logits.shape[1])
    write_golden(stage / GOLDEN_NAME, golden[0], golden[1], golden[2], ref.golden_logits)
    return ref, {"fp32": _entry("fp32", True, fp32, gate_onnx("fp32", fp32, ref, table), seconds)}


def _int8_entry(stage: Path, ref: Reference, table: Mapping[str, Any], calib: np.ndarray | BatchSource,
                options: Mapping[str, Any] | None) -> dict[str, Any]:
    opts = dict(options or {})
    if isinstance(calib, BatchSource):
        calib = _checked(calib, "calibration inputs")
    record = {"n": int(len(calib)), **int8_settings(opts)}
    fp32 = stage / FILES["fp32"]

    requested = record["method"]

    def gate(path: Path) -> tuple[Mapping[str, Any], dict[str, Any]]:
        """INT8 gate + float-layer fallback, then the other calibrations (:mod:`.int8_methods`)."""
        def attempt(method: str) -> tuple[Mapping[str, Any], dict[str, Any]]:
            if method != requested:  # the requested method's file is the one the build wrote
                quantize_int8(fp32, path, calib, **{**opts, "method": method})
            return _int8_gate(fp32, path, calib, ref, table)
        return gate_across_methods(requested, attempt, record)

    return _optional("int8", True, stage, ref, table, lambda p: quantize_int8(fp32, p, calib, **opts),
                     calibration=record, gate=gate)


def _int8cpu_entry(stage: Path, ref: Reference, table: Mapping[str, Any],
                   calib: np.ndarray | BatchSource | None) -> dict[str, Any]:
    """The CPU INT8 file, gated; on failure its own float-layer fallback (:mod:`.int8_cpu_fallback`),
    ranked on the INT8 calibration images when int8 is exported too."""
    fp32 = stage / FILES["fp32"]
    if isinstance(calib, BatchSource):
        calib = _checked(calib, "calibration inputs")

    def gate(path: Path) -> tuple[Mapping[str, Any], dict[str, Any]]:
        first = gate_onnx("int8cpu", path, ref, table)
        if first["passed"]:
            return first, cpu_matmul_record(fp32)
        return run_cpu_fallback(fp32, path, calib, lambda p: gate_onnx("int8cpu", p, ref, table), first)
    return _optional("int8cpu", True, stage, ref, table, lambda p: quantize_int8_cpu(fp32, p), gate=gate)


def _int8_gate(fp32: Path, path: Path, calib: np.ndarray | BatchSource, ref: Reference,
               table: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """Gate the INT8 file; when it fails, keep its most sensitive layers float until it passes
    (:mod:`.int8_fallback`, which may rewrite ``path``). Returns the gate and the manifest fields."""
    first = gate_onnx("int8", path, ref, table)
    if first["passed"]:
        return first, matmul_record(onnx.load(str(fp32)), onnx.load(str(path)))
    return run_fallback(fp32, path, calib, lambda run: gate_runner("int8", run, ref, table), first)


def _checked(source: BatchSource, what: str) -> BatchSource:
    """``source`` with every batch checked (shape, [0, 1]) as it streams."""
    def read(rows: np.ndarray):
        for x, y in source.batches(rows):
            check_batch(x, source.chw, what)
            yield x, y
    return BatchSource(source.labels, source.chw, read)


def _check_formats(formats: set[str] | frozenset[str], calib: np.ndarray | None) -> set[str]:
    fmts = set(formats or ())
    unknown = sorted(fmts - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown export format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}"
                         " (fp32 is always exported)")
    if "int8" in fmts and calib is None:
        raise ValueError("int8 export needs calibration images (calib): pass a stratified sample of training images")
    return fmts


def _check_inputs(spec: Mapping[str, Any], golden: tuple | None, test_sets: Sequence,
                  calib: np.ndarray | BatchSource | None) -> tuple[int, int, int]:
    """One-line ValueError unless every array is float32-convertible NCHW of the spec's size in [0, 1].

    Arrays are checked here; a ``BatchSource`` announces its image shape (checked here) and has its
    batches checked as they stream (reference pass, calibration reader).
    """
    check_spec(dict(spec))
    chw = spec_chw(dict(spec))
    if golden is not None and (not isinstance(golden, (tuple, list)) or len(golden) != 3):
        raise ValueError("golden must be (inputs, labels, task_ids)")
    if not test_sets:
        raise ValueError("test_sets must hold one (inputs, labels) pair or BatchSource per seen task")
    arrays = [("golden inputs", golden[0])] if golden is not None else []
    arrays += [(f"task {t} test inputs", s) for t, s in enumerate(test_sets, 1)]
    arrays += [("calibration inputs", calib)] if calib is not None else []
    for what, x in arrays:
        if isinstance(x, BatchSource):
            if x.chw != chw or len(x) == 0:
                raise ValueError(f"{what} must be (N>=1, {chw[0]}, {chw[1]}, {chw[2]}) per the input spec,"
                                 f" got ({len(x)}, {', '.join(map(str, x.chw))})")
            continue
        if what.startswith("task"):
            x, y = x
            if np.shape(y) != (len(x),):
                check_batch(x, chw, what)  # shape errors first, as before
                raise ValueError(f"{what.split(' test')[0]} labels must be ({len(x)},), got {np.shape(y)}")
        check_batch(x, chw, what)
    return chw


def _check_classes(classes: Sequence[str], k: int) -> None:
    if isinstance(classes, str) or len(classes) != k:
        raise ValueError(f"classes lists {len(classes)} names but the model has {k} outputs")


def _entry(name: str, requested: bool, path: Path, gate: dict[str, Any], seconds: float,
           **extra: Any) -> dict[str, Any]:
    return format_entry(path.name, requested, gate=gate, export_seconds=round(seconds, 3), **extra)


def _optional(name: str, requested: bool, stage: Path, ref: Reference, table: Mapping[str, Any],
              build: Callable[[Path], Path], *, gate: GateFn | None = None, **extra: Any) -> dict[str, Any]:
    """Build one optional format and gate it; any failure becomes an export_failed record.

    ``gate(path)`` -> (gate record, extra manifest fields) replaces the plain ``gate_onnx``."""
    path = stage / FILES[name]
    started = time.perf_counter()
    try:
        build(path)
        seconds = time.perf_counter() - started
        record, fields = gate(path) if gate else (gate_onnx(name, path, ref, table), {})
    except Exception as exc:  # recorded, not raised: the other formats still ship
        path.unlink(missing_ok=True)
        return format_entry(None, requested, error=f"{name} export failed: {type(exc).__name__}: {exc}", **extra)
    return _entry(name, requested, path, dict(record), seconds, **extra, **fields)


def _trt_entry(stage: Path, entries: Mapping[str, Any], ref: Reference, table: Mapping[str, Any],
               max_batch: int) -> dict[str, Any]:
    """TensorRT FP16 engine via ``edgecl_runtime.trt_build`` (only where TensorRT imports)."""
    if not tensorrt_available():
        return format_entry(None, True, error=TRT_MISSING)
    from edgecl_runtime.backends.trt import TrtBackend
    from edgecl_runtime.bundle import Bundle
    from edgecl_runtime.backends.trt.build import build_engine

    started = time.perf_counter()
    try:
        bundle = Bundle(path=stage, manifest={"formats": dict(entries), "files": file_entries(stage)})
        engine = build_engine(bundle, "fp16", max_batch=max_batch)
        seconds = time.perf_counter() - started
        backend = TrtBackend.for_bundle(bundle, precision="fp16", engine=engine)
        try:
            gate = gate_runner(TRT_KEY, backend.run, ref, table)
        finally:
            backend.close()
    except Exception as exc:
        for leftover in [*stage.glob("*.plan"), *stage.glob("*.plan.json")]:
            leftover.unlink()
        return format_entry(None, True, error=f"TensorRT build failed: {type(exc).__name__}: {exc}")
    return _entry(TRT_KEY, True, Path(engine), gate, seconds)

