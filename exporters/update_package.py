"""Write an over-the-air update: base bundle + update folder -> the target bundle, on the device.

Inputs: the base bundle (task M), the full target bundle (task N, already exported and gated), the
branch factors of tasks M+1..N, task M's qkv weights, the new tasks' golden images and a function
giving the target model's PyTorch logits. The update ships (layout: :mod:`edgecl_runtime.update.format`)
- the factors (task N's qkv weights are rebuilt from the base's with
  :func:`edgecl_runtime.update.math.apply_factors`, the routine training merged with);
- each ONNX file as a patch against the base's same-format file (:mod:`.onnx.patch`: the graph
  elements the task changed, with K/V weights, float or quantised, left for the device to derive)
  when the device routine rebuilds it byte for byte, else whole (FP16/INT8 conversions are not
  re-run on a device: only what they changed travels, and only if the check passes);
- a golden set the device can rebuild exactly: the base's golden inputs plus at most
  ``NEW_GOLDEN`` images of the new tasks (uint8), with the target's logits for every row;
- the target bundle's manifest, with golden.npz's entry replaced by the rebuilt one's, signed with
  the run's key, and every other target file whole (labels, DeepStream, Polygraphy: a few KB).
Everything is written in a staging folder and renamed into place once ``update.json`` is complete.
"""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import onnx
from edgecl_runtime.atomic_io import read_json, sha256_file, staged_dir, write_bytes_atomic, write_json_atomic
from edgecl_runtime.bundle import load_golden
from edgecl_runtime.contract import GOLDEN_NAME, MANIFEST_NAME, SIGNATURE_NAME
from edgecl_runtime.update.golden_pack import compose_golden, new_images_uint8, npz_bytes
from edgecl_runtime.update.onnx_fill import initializers, qkv_raw
from edgecl_runtime.safetensors_read import read_safetensors
from edgecl_runtime.bundle.signing import sign_manifest
from edgecl_runtime.update.format import (
    BUNDLE_FOLDER, GOLDEN_UPDATE, ONNX_FOLDER, UPDATE_KIND, UPDATE_NAME, UPDATE_SIGNATURE, UPDATE_VERSION,
    base_identity, branch_name, content_entries)
from edgecl_runtime.update.math import apply_factors
from safetensors.numpy import save as safetensors_bytes

from .onnx.patch import reproducible_patch

NEW_GOLDEN = 32  # new-task images shipped with an update (uint8), at most ...
NEW_GOLDEN_BYTES = 2 * 1024**2  # ... and at most this many bytes of them (224 px RGB: 13 images)
FP32_ONNX = "model.onnx"


def locate_qkv(base_onnx: Path, qkv: Mapping[int, np.ndarray]) -> dict[str, dict[str, Any]]:
    """{block: {"initializer", "transposed"}}: where the base FP32 ONNX holds each block's qkv weight."""
    inits = list(initializers(onnx.load_model_from_string(base_onnx.read_bytes())).values())
    found: dict[str, dict[str, Any]] = {}
    for block, weight in qkv.items():
        for transposed in (True, False):
            raw = qkv_raw(weight, transposed, "float32")
            hits = [t.name for t in inits if t.data_type == onnx.TensorProto.FLOAT and t.raw_data == raw]
            if len(hits) == 1:
                found[str(block)] = {"initializer": hits[0], "transposed": transposed}
                break
        else:
            raise ValueError(f"block {block}'s qkv weight is not one initializer of {base_onnx}: the base bundle "
                             "was not exported from the base task's stored weights; export it again")
    return found


def new_golden_rows(target_golden: Mapping[str, np.ndarray], base_task: int, n: int = NEW_GOLDEN) -> np.ndarray:
    """Rows of the target's golden set from tasks after ``base_task``: at most ``n`` and
    ``NEW_GOLDEN_BYTES`` of uint8 pixels (at least one), evenly spaced over those rows."""
    rows = np.flatnonzero(np.asarray(target_golden["task_ids"]) > base_task)
    per_image = int(np.prod(np.shape(target_golden["inputs"])[1:]))
    n = min(n, max(1, NEW_GOLDEN_BYTES // max(per_image, 1)))
    if len(rows) > n:
        rows = rows[np.linspace(0, len(rows) - 1, n).round().astype(int)]
    return rows


@dataclass(frozen=True)
class UpdateRequest:
    """What an update is made of: the branch factor files of tasks M+1..N (``steps``: (task, path)),
    task M's qkv weights, the target model's logits function, the run's signing key (an Ed25519
    private key or None), and the run name, target task N and base task M it records."""

    steps: Sequence[tuple[int, Path]]
    base_qkv: Mapping[int, np.ndarray]
    logits: Callable[[np.ndarray], np.ndarray]
    sign_key: Any = None
    run: str = ""
    task: int = 0
    base_task: int = 0


def write_update(base: Path, target: Path, out: Path, request: UpdateRequest) -> dict[str, Any]:
    """Write the update folder ``out`` (staged, atomic); returns update.json's dict."""
    steps, base_qkv, logits, sign_key = request.steps, request.base_qkv, request.logits, request.sign_key
    run, task, base_task = request.run, request.task, request.base_task
    base_manifest = read_json(base / MANIFEST_NAME, "base manifest")
    target_manifest = read_json(target / MANIFEST_NAME, "target manifest")
    qkv_source = locate_qkv(base / FP32_ONNX, base_qkv)
    qkv = dict(base_qkv)
    for _, path in steps:
        qkv = apply_factors(qkv, read_safetensors(path))
    golden, golden_arrays = _golden(base, target, base_task, logits)
    manifest = _target_manifest(target_manifest, golden, base_task, sha256_file(base / MANIFEST_NAME))
    with staged_dir(out) as stage:
        for t, path in steps:
            shutil.copyfile(path, stage / branch_name(t))
        write_bytes_atomic(stage / GOLDEN_UPDATE, safetensors_bytes(golden_arrays))  # umask's mode, as every file
        onnx_plan = _onnx_files(base, target, stage, manifest, qkv)
        _bundle_files(target, stage / BUNDLE_FOLDER, manifest, set(onnx_plan) | {GOLDEN_NAME})
        write_json_atomic(stage / BUNDLE_FOLDER / MANIFEST_NAME, manifest)
        if sign_key is not None:
            write_bytes_atomic(stage / BUNDLE_FOLDER / SIGNATURE_NAME, sign_manifest(manifest, sign_key))
        update = {"kind": UPDATE_KIND, "update_version": UPDATE_VERSION, "run": run, "task": int(task),
                  "base_task": int(base_task), "base": base_identity(base, MANIFEST_NAME, base_manifest["files"]),
                  "target": {"manifest_sha256": sha256_file(stage / BUNDLE_FOLDER / MANIFEST_NAME),
                             "export_manifest_sha256": sha256_file(target / MANIFEST_NAME)},
                  "steps": [{"task": int(t), "factors": branch_name(t)} for t, _ in steps],
                  "qkv_source": qkv_source, "onnx": onnx_plan, "golden": GOLDEN_UPDATE,
                  "contents": content_entries(stage)}
        write_json_atomic(stage / UPDATE_NAME, update)
        if sign_key is not None:
            write_bytes_atomic(stage / UPDATE_SIGNATURE, sign_manifest(update, sign_key))
    return update


def _golden(base: Path, target: Path, base_task: int, logits: Callable[[np.ndarray], np.ndarray]
            ) -> tuple[bytes, dict[str, np.ndarray]]:
    """(rebuilt golden.npz bytes, arrays for golden.safetensors) - composed exactly as the device does."""
    old, new = load_golden(base / GOLDEN_NAME), load_golden(target / GOLDEN_NAME)
    rows = new_golden_rows(new, base_task)
    images = new_images_uint8(new["inputs"][rows])
    labels = np.concatenate([old["labels"], new["labels"][rows]]).astype(np.int64)
    task_ids = np.concatenate([old["task_ids"], new["task_ids"][rows]]).astype(np.int64)
    inputs = compose_golden(old["inputs"], images, labels, task_ids, np.zeros((len(labels), 1), np.float32))["inputs"]
    out = np.asarray(logits(inputs), dtype=np.float32)
    arrays = compose_golden(old["inputs"], images, labels, task_ids, out)
    return npz_bytes(arrays), {"new_images": images, "labels": labels, "task_ids": task_ids, "logits": out}


def _target_manifest(full: Mapping[str, Any], golden: bytes, base_task: int, base_sha: str) -> dict[str, Any]:
    """The full bundle's manifest with the rebuilt golden.npz's entry, and where it came from."""
    manifest = dict(full)
    files = dict(manifest["files"])
    files[GOLDEN_NAME] = {"sha256": hashlib.sha256(golden).hexdigest(), "bytes": len(golden)}
    manifest["files"] = files
    manifest["update"] = {"from_task": int(base_task), "base_manifest_sha256": base_sha}
    return manifest


def _onnx_files(base: Path, target: Path, stage: Path, manifest: Mapping[str, Any],
                qkv: Mapping[int, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Patch or whole file for every ONNX file of the target bundle; returns update.json's ``onnx``."""
    plan: dict[str, dict[str, Any]] = {}
    (stage / ONNX_FOLDER).mkdir()
    for name in sorted(n for n in manifest["files"] if n.endswith(".onnx")):
        dest = stage / ONNX_FOLDER / name
        made = reproducible_patch(target / name, base / name, qkv) if (base / name).is_file() else None
        if made is None:
            shutil.copyfile(target / name, dest)
            plan[name] = {"file": f"{ONNX_FOLDER}/{name}", "whole": True}
        else:
            write_bytes_atomic(dest, made[0])
            plan[name] = {"file": f"{ONNX_FOLDER}/{name}", "whole": False, "lists": made[1], "fills": made[2]}
    return plan


def _bundle_files(target: Path, dest: Path, manifest: Mapping[str, Any], rebuilt: set[str]) -> None:
    """Copy every target file the device does not rebuild (small: labels, configs, Polygraphy data)."""
    for name in manifest["files"]:
        if name in rebuilt:
            continue
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target / name, path)
    dest.mkdir(exist_ok=True)
