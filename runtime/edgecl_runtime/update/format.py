"""The update package contract: names, version, and the checks both sides share.

``RUN/task-NN/update-from-MM/`` holds:
- ``update.json``: what the update is (below), signed into ``update.sig`` when the run has a key;
- ``branch-TT.safetensors``: the factors of every task T in M+1..N (applied in order);
- ``onnx/<file>``: a skeleton of each ONNX file of the target bundle (:mod:`.onnx_fill`), or the
  file whole when its conversion cannot be reproduced on a device;
- ``golden.safetensors``: the new tasks' golden images (uint8) and, for every row of the rebuilt
  golden set (the base's golden inputs, then those images), labels, task ids and PyTorch logits;
- ``bundle/``: the target bundle's ``manifest.json`` (+ ``manifest.sig``) and every small file
  shipped whole (labels, DeepStream configs, Polygraphy data).
``update.json``: ``base`` (sha256 of the base bundle's manifest and of every file it lists),
``target`` (the target manifest's sha256), ``steps``, ``onnx`` (fills per file), ``qkv_source``
(which base FP32 initializer holds block b's qkv weight) and ``contents`` (sha256 and size of
every file of the update folder, so a truncated or edited update is refused before any work).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping

from ..atomic_io import sha256_file
from ..errors import BundleError

UPDATE_NAME = "update.json"
UPDATE_SIGNATURE = "update.sig"
UPDATE_KIND = "edgecl-update"
UPDATE_VERSION = 1
BUNDLE_FOLDER = "bundle"
ONNX_FOLDER = "onnx"
GOLDEN_UPDATE = "golden.safetensors"


def update_dirname(base_task: int) -> str:
    return f"update-from-{base_task:02d}"


def branch_name(task: int) -> str:
    return f"branch-{task:02d}.safetensors"


def content_entries(folder: "str | os.PathLike[str]") -> Dict[str, Dict[str, Any]]:
    """{relative path: {"sha256", "bytes"}} of every file in an update folder but update.json/.sig."""
    root = Path(folder)
    out = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_file() and name not in (UPDATE_NAME, UPDATE_SIGNATURE):
            out[name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


def check_contents(folder: Path, update: Mapping[str, Any]) -> None:
    """Every listed file present with its size and sha256, and nothing unlisted."""
    listed = update.get("contents")
    if not isinstance(listed, dict) or not listed:
        raise BundleError(f"update {folder}: {UPDATE_NAME} lists no contents; re-export the update")
    found = content_entries(folder)
    for name, entry in listed.items():
        got = found.get(name)
        if got is None:
            raise BundleError(f"update {folder}: {name} is missing; re-copy the update")
        if got["bytes"] != entry.get("bytes"):
            raise BundleError(f"update {folder}: {name} has {got['bytes']} bytes, expected {entry.get('bytes')} "
                              "(truncated?); re-copy the update")
        if got["sha256"] != entry.get("sha256"):
            raise BundleError(f"update {folder}: {name} was altered (sha256 mismatch); re-copy the update")
    extra = sorted(set(found) - set(listed))
    if extra:
        raise BundleError(f"update {folder}: {extra[0]} is not part of the update; re-copy the update")


def base_identity(bundle: Path, manifest_name: str, files: Mapping[str, Any]) -> Dict[str, Any]:
    """{"manifest_sha256", "files": {name: sha256}} of a bundle, as an update names its base."""
    return {"manifest_sha256": sha256_file(bundle / manifest_name),
            "files": {name: str(entry["sha256"]) for name, entry in files.items()}}


def check_base(bundle: Path, manifest_name: str, expected: Mapping[str, Any]) -> None:
    """Refuse a base bundle that is not the one the update was made from (or was altered since)."""
    path = bundle / manifest_name
    if not path.is_file():
        raise BundleError(f"{bundle} is not a bundle ({manifest_name} missing); pass the base bundle folder")
    if sha256_file(path) != expected.get("manifest_sha256"):
        raise BundleError(f"{bundle} is not the base this update was made from (manifest sha256 differs); "
                          "apply it to the bundle it names or ask for an update from this one")
    for name, sha in dict(expected.get("files", {})).items():
        file = bundle / name
        if not file.is_file() or sha256_file(file) != sha:
            raise BundleError(f"base bundle {bundle}: {name} is missing or altered; re-copy the base bundle")
