"""Publish a verified bundle as version N (the task number) of a Triton Inference Server model.

Layout written (Triton's model repository format)::

    REPO/NAME/config.pbtxt      onnxruntime backend, max_batch_size, I/O from the ONNX, labels
    REPO/NAME/labels.txt        one class per line, in output order (Triton's label file)
    REPO/NAME/N/model.onnx      the bundle's FP32 model (metadata and all), byte for byte

Why this shape: with ``version_policy: { latest { num_versions: 1 } }`` and Triton started with
``--model-control-mode=poll``, the server loads the highest version and swaps to a new task as soon
as its folder appears, so publishing after every task is the serving side of continual learning.
Only a bundle whose files verify and whose FP32 gate passed is published. The version folder is
built beside its final place and renamed in (a half-copied model is never visible); then
``labels.txt`` and ``config.pbtxt`` are replaced atomically. A class-incremental task adds outputs,
so the config changes with the version: between the two renames a polling server may try the new
version with the previous config once, fail that load, and succeed at its next poll.

``config.pbtxt`` is written as protobuf text by hand (no Triton package needed to export); the tests
parse it with the ``model_config.proto`` schema shipped in ``tritonclient`` and check each field
against the ONNX.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

import onnx
from edgecl_runtime.atomic_io import staged_dir, write_bytes_atomic
from edgecl_runtime.bundle import load_bundle
from edgecl_runtime.contract import ONNX_FILES

MODEL_FILE = "model.onnx"
CONFIG_NAME = "config.pbtxt"
LABELS_NAME = "labels.txt"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
TRITON_TYPES = {  # onnx.TensorProto element type -> Triton data_type
    onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.DOUBLE: "TYPE_FP64", onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.INT32: "TYPE_INT32", onnx.TensorProto.INT8: "TYPE_INT8",
    onnx.TensorProto.UINT8: "TYPE_UINT8", onnx.TensorProto.BOOL: "TYPE_BOOL",
}


class TritonNameError(ValueError):
    """The repository or model name cannot be used (a command-line problem)."""


class TritonRefused(RuntimeError):
    """The bundle may not be published (gate not passed, older than what is served)."""


def check_model_name(name: str) -> str:
    """A Triton model name that is also a safe folder name; one-line error otherwise."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise TritonNameError(f"Triton model name {name!r} is not usable: use 1-128 letters, digits, '_', '.'"
                              " or '-', not starting with '.' or '-' (--triton-name NAME)")
    return name


def tensor_io(onnx_path: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(inputs, outputs) of the graph: name, Triton type, dims without the (dynamic) batch axis."""
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return [_tensor(v) for v in graph.input], [_tensor(v) for v in graph.output]


def _tensor(value: onnx.ValueInfoProto) -> dict[str, Any]:
    t = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
    if not dims or dims[0] != -1:
        raise TritonRefused(f"ONNX tensor {value.name!r} has no dynamic batch axis ({dims}): Triton's batching"
                            " needs one; re-export the bundle")
    if t.elem_type not in TRITON_TYPES:
        raise TritonRefused(f"ONNX tensor {value.name!r} has element type {t.elem_type}, which has no Triton type")
    return {"name": value.name, "data_type": TRITON_TYPES[t.elem_type], "dims": dims[1:]}


def config_text(name: str, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]], *,
                max_batch_size: int, comment: str = "") -> str:
    """``config.pbtxt`` in protobuf text format (``inference.ModelConfig``)."""
    if int(max_batch_size) < 1:
        raise TritonRefused(f"max_batch_size must be >= 1, got {max_batch_size}")
    lines = [f"# {comment}"] if comment else []
    lines += [f'name: "{name}"', 'backend: "onnxruntime"', f"max_batch_size: {int(max_batch_size)}",
              "version_policy: { latest { num_versions: 1 } }"]
    lines += _tensors("input", inputs, label=False) + _tensors("output", outputs, label=True)
    lines += ["dynamic_batching { }"]
    return "\n".join(lines) + "\n"


def _tensors(kind: str, tensors: Sequence[Mapping[str, Any]], *, label: bool) -> list[str]:
    out = [f"{kind} ["]
    for k, t in enumerate(tensors):
        dims = ", ".join(str(int(d)) for d in t["dims"])
        out += ["  {", f'    name: "{t["name"]}"', f"    data_type: {t['data_type']}", f"    dims: [ {dims} ]"]
        if label and k == 0:
            out.append(f'    label_filename: "{LABELS_NAME}"')
        out.append("  }" + ("," if k < len(tensors) - 1 else ""))
    return out + ["]"]


def labels_text(classes: Sequence[str]) -> str:
    """Triton's label file: one class per line, in output order (line breaks in a name become spaces)."""
    return "".join(str(c).replace("\r", " ").replace("\n", " ") + "\n" for c in classes)


def published_versions(model_dir: Path) -> list[int]:
    """Version folders already in ``model_dir`` (numeric names only)."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def _check_publishable(manifest: Mapping[str, Any], model_dir: Path) -> int:
    task = manifest.get("task")
    if not isinstance(task, int) or task < 1:
        raise TritonRefused(f"bundle task {task!r} is not a task number >= 1: Triton versions are task numbers")
    fp32 = manifest.get("formats", {}).get("fp32", {})
    if fp32.get("status") != "passed":
        raise TritonRefused(f"task {task}'s FP32 model did not pass its gate ({fp32.get('status', 'missing')}):"
                            " not published to Triton; fix the export first")
    newer = [v for v in published_versions(model_dir) if v > task]
    if newer:
        raise TritonRefused(f"{model_dir} already serves version {newer[-1]}, newer than task {task}: Triton loads"
                            f" the newest only; remove {model_dir / str(newer[-1])} first to roll back")
    return task


def publish_triton(bundle_dir: str | Path, repo: str | Path, name: str) -> dict[str, Any]:
    """Publish the bundle's FP32 ONNX as version ``task`` of ``repo/name``; returns what was written."""
    check_model_name(name)
    bundle = load_bundle(bundle_dir)  # every listed file's sha256 checked: publish only what was verified
    model_dir = Path(repo) / name
    task = _check_publishable(bundle.manifest, model_dir)
    onnx_path = Path(bundle_dir) / ONNX_FILES["fp32"]
    inputs, outputs = tensor_io(onnx_path)
    classes = list(bundle.manifest["classes"])
    if len(outputs) != 1 or outputs[0]["dims"] != [len(classes)]:
        raise TritonRefused(f"the ONNX outputs {outputs} do not match the manifest's {len(classes)} classes;"
                            " re-export the bundle")
    with staged_dir(model_dir / str(task)) as stage:
        _copy_model(onnx_path, stage)
    write_bytes_atomic(model_dir / LABELS_NAME, labels_text(classes).encode("utf-8"))
    comment = f"edgecl run {bundle.manifest.get('run', '')!r}, newest published task {task}"
    text = config_text(name, inputs, outputs, max_batch_size=int(bundle.manifest.get("max_batch", 32)),
                       comment=comment)
    write_bytes_atomic(model_dir / CONFIG_NAME, text.encode("utf-8"))
    return {"repo": str(repo), "name": name, "version": task, "config": str(model_dir / CONFIG_NAME),
            "model": str(model_dir / str(task) / MODEL_FILE)}


def _copy_model(onnx_path: Path, stage: Path) -> None:
    """The ONNX (and its external weights, if any) into the staged version folder."""
    shutil.copyfile(onnx_path, stage / MODEL_FILE)
    data = onnx_path.with_name(onnx_path.name + ".data")
    if data.is_file():
        shutil.copyfile(data, stage / data.name)


__all__ = ["publish_triton", "config_text", "labels_text", "tensor_io", "check_model_name",
           "TritonNameError", "TritonRefused", "CONFIG_NAME", "LABELS_NAME", "MODEL_FILE"]
