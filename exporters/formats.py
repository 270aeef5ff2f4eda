"""The exporters' format table: one row per format the contract lists, naming what builds and gates it.

The runtime's contract (``edgecl_runtime.contract.FORMATS``) holds the torch-free facts: name, file,
precision, the word that requests it. This table maps each of those rows to its builder, so a new
format is one contract row, one row here and the module that builds it; the request is validated
against :data:`REQUESTS` and :func:`.bundle.export_bundle` runs the rows in table order: ONNX rows
first (the Jetson files and the engine read them), engine rows after.

FP32 is not a row: it is the base every other file is made from, its failure aborts the export,
and :mod:`.bundle` builds it with the golden set. An optional row's failure is recorded as
``export_failed`` with a one-line error and the other formats go on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from edgecl_runtime.contract import FORMATS, REQUESTS as CONTRACT_REQUESTS, Format

from .job import Job
from .manifest import FormatEntry
from .nvidia import tensorrt
from .onnx import fp16
from .onnx.fp16 import convert_fp16
from .parity.gate import GateResult
from .quantize import int8, int8cpu
from .quantize.int8 import quantize_int8
from .quantize.int8cpu import quantize_int8_cpu
from .quantize.int8cpu_fallback import gate_int8cpu
from .quantize.methods import CalibrationRecord, gate_calibrated
from .quantize.records import QuantFields

Entries = Mapping[str, FormatEntry]
Gated = tuple[GateResult, "QuantFields | None"]


@dataclass(frozen=True)
class FormatRow:
    """``export(job, entries so far)`` -> the format's manifest record; ``also_for``: request words
    of other rows that need this row's file (TensorRT builds its engine from the FP16 ONNX)."""

    format: Format
    export: Callable[[Job, Entries], FormatEntry]
    also_for: tuple[str, ...] = ()

    def wanted(self, job: Job) -> bool:
        return job.requested(self.format) or any(r in job.request.formats for r in self.also_for)


def build_and_gate(job: Job, fmt: Format, build: Callable[[Path], Any],
                   gate: Callable[[Path], Gated] | None = None, calibration: CalibrationRecord | None = None
                   ) -> FormatEntry:
    """Build ``fmt``'s file with ``build(path)`` (timed) and gate it (default: the plain ONNX gate);
    any failure becomes an export_failed record and removes the file."""
    path = job.path(fmt)
    started = time.perf_counter()
    try:
        build(path)
        seconds = time.perf_counter() - started
        result, quant = gate(path) if gate else (job.gate(fmt).file(path), None)
    except Exception as exc:  # recorded, not raised: the other formats still ship
        path.unlink(missing_ok=True)
        return FormatEntry.failed(job.requested(fmt), f"{fmt.name} export failed: {type(exc).__name__}: {exc}",
                                  calibration=calibration)
    return FormatEntry.gated(path.name, job.requested(fmt), result, seconds, calibration=calibration, quant=quant)


def _fp16(job: Job, entries: Entries) -> FormatEntry:
    return build_and_gate(job, fp16.FORMAT, lambda p: convert_fp16(job.fp32, p))


def _int8(job: Job, entries: Entries) -> FormatEntry:
    """TensorRT's INT8 file: the requested calibration, its float-layer fallback, then the other
    calibrations (:mod:`.quantize.methods`)."""
    options, calib, fmt = job.request.int8, job.calib, int8.FORMAT
    record = CalibrationRecord(int(len(calib)), options)
    return build_and_gate(job, fmt, lambda p: quantize_int8(job.fp32, p, calib, options),
                          lambda p: gate_calibrated(job.fp32, p, calib, options, job.gate(fmt), record), record)


def _int8cpu(job: Job, entries: Entries) -> FormatEntry:
    """ONNX Runtime CPU's INT8 file (dynamic, no calibration); its fallback ranks layers on the INT8
    calibration images when INT8 is exported too."""
    fmt = int8cpu.FORMAT
    return build_and_gate(job, fmt, lambda p: quantize_int8_cpu(job.fp32, p),
                          lambda p: gate_int8cpu(job.fp32, p, job.calib, job.gate(fmt)))


TABLE: tuple[FormatRow, ...] = (
    FormatRow(fp16.FORMAT, _fp16, also_for=(tensorrt.FORMAT.request,)),
    FormatRow(int8.FORMAT, _int8),
    FormatRow(int8cpu.FORMAT, _int8cpu),
    FormatRow(tensorrt.FORMAT, tensorrt.tensorrt_entry),
)
REQUESTS: tuple[str, ...] = tuple(row.format.request for row in TABLE)  # what a caller may request

if [r.format for r in TABLE] != [f for f in FORMATS if f.request] or REQUESTS != CONTRACT_REQUESTS:
    raise RuntimeError("the exporters' format table must have one row per requestable contract format, in order")

__all__ = ["FormatRow", "TABLE", "REQUESTS", "build_and_gate"]
