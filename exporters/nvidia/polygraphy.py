"""Golden data in Polygraphy's JSON format, so NVIDIA's own tool can check a bundle.

``polygraphy run model.onnx --onnxrt --load-inputs polygraphy/inputs.json
--load-outputs polygraphy/outputs.json --atol 1e-4 --rtol 0`` (from inside the bundle) runs the
FP32 model on a slice of the golden images and compares its logits with PyTorch's. The same files
check the other precisions with their gate's ``max_abs_diff`` as ``--atol`` (fp16 5e-2, int8 1.0),
and ``--trt`` instead of ``--onnxrt`` checks a TensorRT build on the device.

The format is what Polygraphy's ``save_json`` writes (read from its source, ``polygraphy/json`` and
``polygraphy/comparator/struct.py``): arrays are ``{"array": base64(np.save bytes),
"polygraphy_class": "ndarray"}``; inputs are a list of feed dicts (one per iteration); outputs are
a ``RunResults``: a list of ``[runner_name, [IterationResult, ...]]`` pairs. It is written here with
the standard library and numpy, so exporting needs no Polygraphy; the tests load the files with
Polygraphy itself. ``np.save`` with ``allow_pickle=False`` is the only array encoding, so loading
the files never runs pickled code.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from edgecl_runtime.atomic_io import write_bytes_atomic

FOLDER = "polygraphy"
INPUTS_NAME = f"{FOLDER}/inputs.json"
OUTPUTS_NAME = f"{FOLDER}/outputs.json"
RUNNER_NAME = "pytorch-reference"
MAX_IMAGES = 16  # one iteration of this batch: enough rows to cover every seen task
MAX_BYTES = 8 * 1024**2  # inputs are base64 (4/3 of raw): keep the bundle small for 224 px RGB
TYPE_MARKER = "polygraphy_class"


def encode_array(array: np.ndarray) -> dict[str, str]:
    """One array as Polygraphy encodes it: base64 of ``np.save`` bytes (no pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return {"array": base64.b64encode(buf.getvalue()).decode("ascii"), TYPE_MARKER: "ndarray"}


def golden_rows(inputs: np.ndarray, task_ids: np.ndarray, *, max_images: int = MAX_IMAGES,
                max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Row indices of the golden set to export: round-robin over tasks, so every task is present."""
    per_image = max(1, int(np.prod(inputs.shape[1:])) * 4)
    n = max(1, min(int(max_images), int(max_bytes) // per_image, len(inputs)))
    by_task = [np.flatnonzero(task_ids == t) for t in np.unique(task_ids)]
    order = [rows[k] for k in range(max(map(len, by_task))) for rows in by_task if k < len(rows)]
    return np.sort(np.asarray(order[:n], dtype=np.int64))


def inputs_document(inputs: np.ndarray, input_name: str) -> list[dict[str, Any]]:
    """``--load-inputs`` content: one iteration feeding the whole batch to ``input_name``."""
    return [{input_name: encode_array(np.asarray(inputs, dtype=np.float32))}]


def outputs_document(logits: np.ndarray, output_name: str, runner: str = RUNNER_NAME) -> dict[str, Any]:
    """``--load-outputs`` content: a ``RunResults`` with one runner and one iteration."""
    lazy = {"values": encode_array(np.asarray(logits, dtype=np.float32)), TYPE_MARKER: "LazyArray"}
    iteration = {"outputs": {output_name: lazy}, "runtime": 0.0, "runner_name": runner,
                 TYPE_MARKER: "IterationResult"}
    return {"lst": [[runner, [iteration]]], TYPE_MARKER: "RunResults"}


def write_polygraphy_golden(bundle_dir: str | Path, inputs: np.ndarray, logits: np.ndarray,
                            task_ids: np.ndarray, *, input_name: str = "input",
                            output_name: str = "logits") -> dict[str, Any]:
    """Write ``polygraphy/inputs.json`` and ``outputs.json`` from the golden set; returns the
    manifest record (file names, rows, the check command)."""
    inputs, logits = np.asarray(inputs), np.asarray(logits)
    if inputs.ndim != 4 or logits.ndim != 2 or len(inputs) != len(logits) or len(inputs) == 0:
        raise ValueError(f"polygraphy golden data needs inputs (N,C,H,W) and logits (N,K) with the same"
                         f" N >= 1, got {inputs.shape} and {logits.shape}")
    rows = golden_rows(inputs, np.asarray(task_ids))
    root = Path(bundle_dir)
    _write_json(root / INPUTS_NAME, inputs_document(inputs[rows], input_name))
    _write_json(root / OUTPUTS_NAME, outputs_document(logits[rows], output_name))
    return {"inputs": INPUTS_NAME, "outputs": OUTPUTS_NAME, "n": int(len(rows)), "runner": RUNNER_NAME,
            "command": check_command("model.onnx", "1e-4")}


def check_command(model_file: str, atol: str, backend: str = "--onnxrt") -> str:
    """The Polygraphy command line that checks ``model_file`` (run inside the bundle folder)."""
    return (f"polygraphy run {model_file} {backend} --load-inputs {INPUTS_NAME}"
            f" --load-outputs {OUTPUTS_NAME} --atol {atol} --rtol 0")


def _write_json(path: Path, doc: Any) -> None:
    write_bytes_atomic(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))


__all__ = ["write_polygraphy_golden", "check_command", "encode_array", "INPUTS_NAME", "OUTPUTS_NAME"]
