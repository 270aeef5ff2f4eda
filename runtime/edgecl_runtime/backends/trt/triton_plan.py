"""Publish a device-built, verified TensorRT plan as version N of a Triton ``tensorrt_plan`` model.

Why: Triton's Jetson guide (triton-inference-server/server ``docs/user_guide/jetson.md``) says the
onnxruntime backend there has no TensorRT execution provider, so the ONNX model the exporter
publishes runs on ONNX Runtime's CUDA provider at best.  The fast path on a Jetson is the plan
``edgecl-rt build`` made and verified on the device itself, published by ``build --triton REPO``
after the same golden gate:

    REPO/NAME/config.pbtxt    platform "tensorrt_plan", max_batch_size = the plan's max batch,
                              input/output (FP32; the ONNX files keep float32 I/O), labels
    REPO/NAME/labels.txt      one class per line, in output order
    REPO/NAME/N/model.plan    the plan, byte for byte (Triton's default file name)

The version folder is staged beside its place and renamed in; a task older than a version already
published is refused (Triton serves the newest).  A DLA plan is refused: its batch is static and
Triton's TensorRT backend has no setting for the DLA core the plan needs.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Sequence

from ...atomic_io import staged_dir, write_bytes_atomic
from ...errors import EngineError

PLAN_FILE = "model.plan"
CONFIG_NAME = "config.pbtxt"
LABELS_NAME = "labels.txt"
INPUT_NAME, OUTPUT_NAME = "input", "logits"  # the exporter's ONNX names; TensorRT keeps them
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class TritonPlan:
    """What to publish: a verified plan and its record, the bundle's task, classes and run name."""

    repo: Path
    name: str
    plan: Path
    record: Dict[str, Any]
    task: int
    classes: Sequence[str]
    run: str = ""


def _check(req: TritonPlan) -> None:
    if not NAME_PATTERN.match(req.name or ""):
        raise EngineError(f"Triton model name {req.name!r} is not usable: use 1-128 letters, digits, '_', "
                          "'.' or '-', not starting with '.' or '-' (--triton-name NAME)")
    if not isinstance(req.task, int) or req.task < 1:
        raise EngineError(f"bundle task {req.task!r} is not a task number >= 1: Triton versions are task numbers")
    if req.record.get("dla_core") is not None:
        raise EngineError("a DLA plan cannot be published to Triton (static batch, and its TensorRT backend "
                          "sets no DLA core); build without --dla-core for --triton")
    model_dir = req.repo / req.name
    newer = sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()
                   and int(p.name) > req.task) if model_dir.is_dir() else []
    if newer:
        raise EngineError(f"{model_dir} already serves version {newer[-1]}, newer than task {req.task}; "
                          f"remove {model_dir / str(newer[-1])} first to roll back")


def config_text(req: TritonPlan) -> str:
    """``config.pbtxt`` (protobuf text of ``inference.ModelConfig``) for the plan."""
    shapes = req.record["input_shapes"]
    dims = ", ".join(str(int(d)) for d in shapes["max"][1:])
    lines = [f"# edgecl run {req.run!r}, task {req.task}: TensorRT {req.record['tensorrt']} plan built "
             f"on {req.record['gpu']} by edgecl-rt build --triton",
             f'name: "{req.name}"', 'platform: "tensorrt_plan"',
             f"max_batch_size: {int(shapes['max'][0])}",
             "version_policy: { latest { num_versions: 1 } }",
             "input [", "  {", f'    name: "{INPUT_NAME}"', "    data_type: TYPE_FP32", f"    dims: [ {dims} ]",
             "  }", "]",
             "output [", "  {", f'    name: "{OUTPUT_NAME}"', "    data_type: TYPE_FP32",
             f"    dims: [ {len(req.classes)} ]", f'    label_filename: "{LABELS_NAME}"', "  }", "]",
             "dynamic_batching { }"]
    return "\n".join(lines) + "\n"


def publish_plan(req: TritonPlan) -> Dict[str, Any]:
    """Write ``req`` into the Triton repository; returns what was written."""
    _check(req)
    model_dir = req.repo / req.name
    try:
        with staged_dir(model_dir / str(req.task)) as stage:
            shutil.copyfile(req.plan, stage / PLAN_FILE)
        labels = "".join(str(c).replace("\r", " ").replace("\n", " ") + "\n" for c in req.classes)
        write_bytes_atomic(model_dir / LABELS_NAME, labels.encode("utf-8"))
        write_bytes_atomic(model_dir / CONFIG_NAME, config_text(req).encode("utf-8"))
    except OSError as exc:
        raise EngineError(f"cannot publish to Triton repository {req.repo}: {exc.strerror or exc}; "
                          "check the folder exists and is writable")
    return {"name": req.name, "version": req.task, "config": str(model_dir / CONFIG_NAME),
            "model": str(model_dir / str(req.task) / PLAN_FILE)}


__all__ = ["TritonPlan", "publish_plan", "config_text", "PLAN_FILE"]
