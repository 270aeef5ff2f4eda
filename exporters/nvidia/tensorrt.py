"""The TensorRT FP16 engine of a bundle (``model.fp16.plan`` + its ``.plan.json`` record), built with
the runtime's own builder and gated through the runtime's backend, only where TensorRT imports.

Why the runtime's code: the engine a device builds and the one the export ships must be the same
thing (same profile, same record), so the exporter does not keep a second TensorRT builder.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

from edgecl_runtime.contract import format_named
from edgecl_runtime.backends.trt.compat import NO_TENSORRT, tensorrt_available

from ..job import Job
from ..manifest import FormatEntry, file_entries

FORMAT = format_named("trt_fp16")
TRT_MISSING = f"{NO_TENSORRT.split(';')[0]}; build the engine on the device with `edgecl-rt build BUNDLE`"


def tensorrt_entry(job: Job, entries: Mapping[str, FormatEntry]) -> FormatEntry:
    """Build the engine from the staged (stamped) ONNX files of ``entries`` and gate it; a missing
    TensorRT or any failure becomes an export_failed record and leaves no plan behind."""
    if not tensorrt_available():
        return FormatEntry.failed(True, TRT_MISSING)
    from edgecl_runtime.backends.trt import TrtBackend
    from edgecl_runtime.bundle import Bundle
    from edgecl_runtime.backends.trt.build import BuildOptions, build_engine, plan_path

    started = time.perf_counter()
    try:
        formats = {name: entry.to_json() for name, entry in entries.items()}
        bundle = Bundle(path=job.stage, manifest={"formats": formats, "files": file_entries(job.stage)})
        options = BuildOptions(max_batch=job.request.max_batch, out_path=plan_path(job.stage, FORMAT.precision))
        engine = build_engine(bundle, FORMAT.precision, options)
        seconds = time.perf_counter() - started
        backend = TrtBackend.for_bundle(bundle, precision=FORMAT.precision, engine=engine)
        try:
            gate = job.gate(FORMAT).runner(backend.run)
        finally:
            backend.close()
    except Exception as exc:
        for leftover in [*job.stage.glob("*.plan"), *job.stage.glob("*.plan.json")]:
            leftover.unlink()
        return FormatEntry.failed(True, f"TensorRT build failed: {type(exc).__name__}: {exc}")
    return FormatEntry.gated(Path(engine).name, True, gate, seconds)


__all__ = ["FORMAT", "TRT_MISSING", "tensorrt_entry"]
