"""``edgecl-rt update BASE UPDATE --out NEW``: rebuild task N's bundle from task M's and an update.

Order, each step refusing with one line before anything is written:
1. ``update.json`` parses, is an edgecl update of a known version and (``--trust``) ``update.sig``
   is a valid signature by a trusted key;
2. every file of the update has the size and sha256 ``update.json`` lists (truncated, edited or
   foreign files are refused) and the base bundle is the one it names (manifest and files);
3. in a staging folder beside NEW: task N's qkv weights = the base's, read from its FP32 ONNX, with
   every step's factors applied (:func:`edgecl_runtime.update.math.apply_factors`, the routine
   training merged with); each ONNX file rebuilt from its patch and the base's same file
   (:mod:`.onnx_fill`) or copied whole; golden.npz composed (:mod:`.golden_pack`); the target manifest and small files copied;
4. proof: every file the target manifest lists has its sha256 (model.onnx byte-identical to the
   full export's), then the golden gate of every ONNX format in it runs as ``verify`` does
   (``--trust``: the new manifest's signature too);
5. the staging folder becomes NEW in one rename that never replaces anything (``renameat2``
   with ``RENAME_NOREPLACE``: :func:`edgecl_runtime.atomic_io.rename_noreplace`): a NEW that
   appeared meanwhile is refused and left as it is. Any failure removes the staging folder: NEW is
   never half-written, and a staging folder a killed run left is removed by the next run.

Every name update.json gives is contained (:func:`.format.checked_name`) and every update file is
read once, without following links, and checked against its listed sha256 (:func:`.format.read_listed`);
the rebuilt bundle may hold only the files its manifest lists. A file system error (unreadable
input, read-only or full ``--out`` folder) is one line like every other refusal.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from ..atomic_io import PARTIAL, clean_stale_partials, read_json, sha256_file, staged_dir, write_bytes_atomic
from ..bundle.read import check_files, load_golden, read_manifest
from ..contract import GOLDEN_NAME, MANIFEST_NAME, ONNX_FILES, SIGNATURE_NAME
from ..errors import BundleError
from .golden_pack import compose_golden, npz_bytes
from .onnx_fill import base_qkv, fill_onnx
from ..safetensors_read import parse_safetensors
from ..bundle.signing import canonical_bytes, check_signed
from .format import (BUNDLE_FOLDER, UPDATE_KIND, UPDATE_NAME, UPDATE_SIGNATURE, UPDATE_VERSION,
                     check_base, check_contents, checked_name, read_listed)
from .math import apply_factors
from ..bundle.verify import verify_bundle

FP32_ONNX = ONNX_FILES["fp32"]
REQUIRED = {"task": int, "base_task": int, "base": dict, "target": dict, "steps": list, "qkv_source": dict,
            "onnx": dict, "golden": str, "contents": dict}


def _read_update(folder: Path, trusted: Optional[List[Any]]) -> Dict[str, Any]:
    """update.json, checked for kind, version, signature (under --trust) and contents."""
    if not (folder / UPDATE_NAME).is_file():
        raise BundleError(f"{folder} is not an update ({UPDATE_NAME} missing); pass RUN/task-NN/update-from-MM")
    try:
        update = read_json(folder / UPDATE_NAME, "update manifest")
    except ValueError as exc:
        raise BundleError(f"{exc}; re-copy the update") from None
    if not isinstance(update, dict) or update.get("kind") != UPDATE_KIND:
        raise BundleError(f"{folder / UPDATE_NAME} is not an edgecl update; re-copy the update")
    if not isinstance(update.get("update_version"), int) or any(
            not isinstance(update.get(k), t) for k, t in REQUIRED.items()):
        raise BundleError(f"{folder / UPDATE_NAME} is malformed (a required field is missing or of the wrong type); "
                          "re-export the update")
    if update["update_version"] > UPDATE_VERSION:
        raise BundleError(f"update {folder} needs a newer edgecl-runtime (update v{update.get('update_version')}); "
                          "upgrade edgecl-runtime")
    if trusted is not None:
        _check_update_signature(folder, update, trusted)
    check_contents(folder, update)
    return update


def _check_update_signature(folder: Path, update: Mapping[str, Any], trusted: List[Any]) -> None:
    """One-line BundleError unless ``update.sig`` signs update.json's canonical bytes by a trusted key."""
    check_signed(folder / UPDATE_SIGNATURE, canonical_bytes(dict(update)), trusted,
                 unsigned=f"update {folder} is not signed ({UPDATE_SIGNATURE} missing) and --trust is set; "
                          "export it from a run with a signing key",
                 garbled="re-export the update",
                 mismatch=f"update {folder}: {UPDATE_SIGNATURE} does not match any trusted key; "
                          "update.json was changed or signed by another key")


def rebuild(base: Path, folder: Path, update: Mapping[str, Any], stage: Path) -> None:
    """Write every file of the target bundle into ``stage`` (step 3 of the module docstring).

    Every file of the update is read once through :func:`read_listed` (contained, listed, no link
    followed, sha256 checked on the bytes used); every name written is a plain relative name.
    """
    try:
        qkv = base_qkv(base / FP32_ONNX, update["qkv_source"]) if update.get("qkv_source") else {}
        for step in update["steps"]:
            qkv = apply_factors(qkv, parse_safetensors(read_listed(folder, update, step["factors"]),
                                                       f"update {folder}: {step['factors']}"))
        for name, spec in update["onnx"].items():
            name = checked_name(name, "update.json's onnx table")
            data = read_listed(folder, update, spec["file"])
            if not spec["whole"]:
                data = fill_onnx(data, _base_file(base, name), spec["fills"], qkv, spec.get("lists"))
            write_bytes_atomic(stage / name, data)
        shipped = parse_safetensors(read_listed(folder, update, update["golden"]), f"update {folder}: golden")
        golden = compose_golden(load_golden(base / GOLDEN_NAME)["inputs"], shipped["new_images"],
                                shipped["labels"], shipped["task_ids"], shipped["logits"])
        write_bytes_atomic(stage / GOLDEN_NAME, npz_bytes(golden))
        _copy_bundle_files(folder, update, stage)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"update {folder} cannot be applied to {base}: {exc}; re-export the update") from None


def _copy_bundle_files(folder: Path, update: Mapping[str, Any], stage: Path) -> None:
    """The listed files of the update's ``bundle/`` (manifest, signature, small files) into ``stage``."""
    prefix = BUNDLE_FOLDER + "/"
    for name in sorted(update["contents"]):
        if isinstance(name, str) and name.startswith(prefix):
            write_bytes_atomic(stage / checked_name(name[len(prefix):]), read_listed(folder, update, name))


def _base_file(base: Path, name: str) -> Path:
    """``base/name`` for a checked name, refusing one that resolves outside the base bundle."""
    path = base / checked_name(name)
    if base.resolve() not in path.resolve().parents:
        raise BundleError(f"update names {name!r}, outside the base bundle: refusing it")
    return path


def _unlisted(stage: Path, manifest: Mapping[str, Any]) -> List[str]:
    """Files of the staged bundle that its manifest does not list (nor the manifest and signature)."""
    allowed = set(manifest["files"]) | {MANIFEST_NAME, SIGNATURE_NAME}
    found = []
    for dirpath, _, files in os.walk(stage):
        for file in files:
            name = (Path(dirpath) / file).relative_to(stage).as_posix()
            if name not in allowed:
                found.append(name)
    return sorted(found)


def prove(stage: Path, update: Mapping[str, Any], trusted: Optional[List[Any]], backend: str,
          thresholds: Optional[Mapping[str, Any]]) -> Dict[str, bool]:
    """Step 4: sha256 of every listed file, then the golden gate of every ONNX format that passed it at
    export (one that failed there fails here too, as ``verify`` of the full bundle would); {precision: True}."""
    if sha256_file(stage / MANIFEST_NAME) != update["target"]["manifest_sha256"]:
        raise BundleError("the update's target manifest does not match update.json; re-copy the update")
    manifest = read_manifest(stage)
    check_files(stage, manifest)
    extra = _unlisted(stage, manifest)
    if extra:
        raise BundleError(f"the rebuilt bundle holds {extra[0]!r}, which its manifest does not list; "
                          "refusing it (re-export the update)")
    gates = {}
    for precision, name in ONNX_FILES.items():  # the formats the full export's gate passed
        if name in manifest["files"] and manifest.get("formats", {}).get(precision, {}).get("status") == "passed":
            rec = verify_bundle(stage, backend, precision, thresholds, write=False, trusted=trusted)
            if not rec["passed"]:
                raise BundleError(f"the rebuilt bundle fails the {precision} golden gate: {rec['reason']}")
            gates[precision] = True
    return gates


def apply_update(base: "str | os.PathLike[str]", update_dir: "str | os.PathLike[str]",
                 out: "str | os.PathLike[str]", trusted: Optional[List[Any]] = None, backend: str = "ort",
                 thresholds: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Apply ``update_dir`` to the bundle ``base``, writing the new bundle ``out``; returns a report.

    Every failure is one BundleError line, a file system error (unreadable input, read-only or full
    ``out`` folder) included; ``out`` is published only if nothing is there at the last moment.
    """
    started = time.perf_counter()
    base, folder, target = Path(base), Path(update_dir), Path(out)
    try:
        update = _read_update(folder, trusted)
        check_base(base, MANIFEST_NAME, update["base"])
        if os.path.lexists(target):
            raise BundleError(f"{target} already exists; choose a new --out folder")
        clean_stale_partials(target)  # a killed earlier run's staging folder
        gates = _build(base, folder, update, target, (trusted, backend, thresholds))
    except FileExistsError:
        raise BundleError(f"{target} appeared while the update was being applied; it was left as it is "
                          "and nothing was written: choose a new --out folder") from None
    except OSError as exc:
        raise BundleError(_os_failure(exc, target)) from None
    return {"out": str(target), "task": update.get("task"), "base_task": update.get("base_task"),
            "gates": gates, "seconds": time.perf_counter() - started,
            "patched": sorted(n for n, s in update["onnx"].items() if not s["whole"]),
            "whole": sorted(n for n, s in update["onnx"].items() if s["whole"])}


def _build(base: Path, folder: Path, update: Mapping[str, Any], target: Path, proof: tuple) -> Dict[str, bool]:
    """Stage, prove (``proof``: trusted keys, backend, thresholds) and publish ``target`` without
    replacing anything; {precision: True} of the gates passed."""
    with staged_dir(target, replace=False) as stage:
        rebuild(base, folder, update, stage)
        gates = prove(stage, update, *proof)
        before_publish(target)
    return gates


def before_publish(target: Path) -> None:
    """Called once the staged bundle is proved, just before it is published as ``target``.

    Nothing to do in normal use; a test replaces it to create ``target`` at that very moment
    (the race a no-replace publish must win without deleting anything).
    """


def _os_failure(exc: OSError, target: Path) -> str:
    """One line for a file system error: writing ``target`` (its folders, the staging folder) or reading."""
    where = Path(exc.filename) if exc.filename else target
    reason = exc.strerror or type(exc).__name__
    staging = f".{target.name}.{PARTIAL}-"
    if where == target or where in target.parents or any(p.name.startswith(staging) for p in (where, *where.parents)):
        return (f"cannot write {target} ({reason}); nothing was written: choose an --out folder that is "
                "writable and has free space")
    return f"cannot read {where} ({reason}); make the base bundle and the update readable"
