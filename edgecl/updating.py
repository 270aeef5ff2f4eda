"""Store -> over-the-air update: ``edgecl export --task N --update-from M`` (no printing).

Task N's bundle (just exported) and task M's bundle are read back from the run; the factors of
tasks M+1..N come from their ``branch.safetensors`` and task M's qkv weights from its checksummed
``weights.safetensors``; :func:`edgecl.exporters.update_package.write_update` writes
``RUN/task-NN/update-from-MM/``. Logits of the rebuilt golden set are PyTorch's, from task N's
stored model, as for every bundle.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgecl.errors import StoreError, UsageError
from edgecl.exporters.parity.reference import torch_logits
from edgecl.exporters.update_package import UpdateRequest, write_update
from edgecl.inflora.factors import BRANCH_FILE
from edgecl.run.bundles import BUNDLE, bundle_dir, clean_leftovers, export_state
from edgecl.run.models import task_model
from edgecl.run.run import Run
from edgecl.run.signing import check_sign_key
from edgecl.run.tensors import load_tensors
from edgecl_runtime.atomic_io import read_json, sha256_file
from edgecl_runtime.update.format import UPDATE_NAME, UPDATE_SIGNATURE, update_dirname

QKV_SUFFIX = ".attn.qkv.weight"


def update_folder(run: Run, task: int, base_task: int) -> Path:
    return run.store.task_dir(task) / update_dirname(base_task)


def _check_tasks(run: Run, task: int, base_task: int) -> None:
    done = run.finished_tasks()
    if not 1 <= base_task < task:
        raise UsageError(f"--update-from {base_task} must name an earlier task than {task} (1..{task - 1})")
    if task not in done:
        raise UsageError(f"task {task} is not learned yet: learn it first")
    if export_state(run.store, base_task) != BUNDLE:
        raise UsageError(f"task {base_task} has no bundle to update from: "
                         f"`edgecl export --run {run.root} --task {base_task}` first")


def _factor_files(run: Run, task: int, base_task: int) -> list[tuple[int, Path]]:
    steps = []
    for t in range(base_task + 1, task + 1):
        if BRANCH_FILE not in run.store.record(t)["files"]:
            raise StoreError(f"task {t} has no {BRANCH_FILE} (learned before edgecl kept branch factors): "
                             f"relearn it with `edgecl learn --run {run.root} --task {t} --force`")
        steps.append((t, run.store.verified_path(t, BRANCH_FILE)))
    return steps


def base_qkv(run: Run, task: int) -> dict[int, np.ndarray]:
    """{block: float32 qkv weight} of the stored model after ``task`` (checksum verified)."""
    weights = load_tensors(run.store.verified_path(task, "weights.safetensors"), "weights")
    return {int(k.split(".")[1]): v.numpy() for k, v in weights.items()
            if k.startswith("blocks.") and k.endswith(QKV_SUFFIX)}


def export_update(run: Run, task: int, base_task: int | None = None,
                  sign_key: str | Path | None = None) -> dict[str, Any]:
    """Write ``RUN/task-NN/update-from-MM/`` (M: ``base_task``, default N-1); returns update.json's dict.

    Call with task N's bundle exported (``edgecl export`` does it just before) and the run locked."""
    base_task = task - 1 if base_task is None else base_task
    _check_tasks(run, task, base_task)
    key_path = sign_key if sign_key is not None else run.config.sign_key
    key = None if key_path is None else check_sign_key(key_path)
    model = task_model(run, task)
    request = UpdateRequest(steps=_factor_files(run, task, base_task), base_qkv=base_qkv(run, base_task),
                            logits=lambda x: torch_logits(model, x), sign_key=key, run=run.name, task=task,
                            base_task=base_task)
    return write_update(bundle_dir(run.store, base_task), bundle_dir(run.store, task),
                        update_folder(run, task, base_task), request)


def update_size(folder: Path, update: dict[str, Any]) -> tuple[int, int]:
    """(bytes the update ``folder`` ships: the files its update.json lists, update.json and its
    signature; bytes of the full bundle it rebuilds, the task's ``export/`` folder beside it): what a
    fleet downloads against the whole."""
    size = sum(int(e["bytes"]) for e in update["contents"].values())
    size += sum((folder / n).stat().st_size for n in (UPDATE_NAME, UPDATE_SIGNATURE) if (folder / n).is_file())
    full = sum(p.stat().st_size for p in (folder.parent / "export").rglob("*") if p.is_file())
    return size, full


def update_breakdown(folder: Path) -> dict[str, Any]:
    """What an update ships, for the report and the size table: base task, bytes against the full
    bundle, signed or not, and per ONNX file the bytes shipped against that file's bytes."""
    update = read_json(folder / "update.json", "update.json")
    size, full = update_size(folder, update)
    export = folder.parent / "export"
    files = {}
    for name, spec in sorted(update["onnx"].items()):
        shipped = int(update["contents"][spec["file"]]["bytes"])
        whole = (export / name).stat().st_size if (export / name).is_file() else 0
        files[name] = {"bytes": shipped, "file_bytes": whole, "whole": bool(spec["whole"])}
    return {"base_task": int(update["base_task"]), "bytes": size, "bundle_bytes": full,
            "signed": (folder / "update.sig").is_file(), "onnx": files}


def stale_updates(run: Run, task: int) -> tuple[list[int], list[tuple[str, int]]]:
    """After task ``task`` was exported again: (base tasks M of its updates ``task-NN/update-from-MM``
    made for another export of it, to be written again; (folder, task) of later tasks' updates made
    *from* another export of it, which devices holding the new bundle will refuse)."""
    current = sha256_file(bundle_dir(run.store, task) / "manifest.json")
    mine = []
    for folder in sorted(run.store.task_dir(task).glob("update-from-*")):
        target = _read_update_json(folder).get("target") or {}
        if target.get("export_manifest_sha256") != current:
            mine.append(int(folder.name.rsplit("-", 1)[1]))
    later = []
    for folder in sorted(run.root.glob(f"task-*/{update_dirname(task)}")):
        base = _read_update_json(folder).get("base") or {}
        if base.get("manifest_sha256") not in (None, current):
            later.append((folder.relative_to(run.root).as_posix(), int(folder.parent.name.rsplit("-", 1)[1])))
    return mine, later


def _read_update_json(folder: Path) -> dict[str, Any]:
    try:
        data = read_json(folder / UPDATE_NAME, "update.json")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def check_update_request(run: Run, task: int | None, base_task: int) -> None:
    """Refuse a bad ``--update-from`` before any export work (task None: the latest finished)."""
    done = run.finished_tasks()
    _check_tasks(run, task or (done[-1] if done else 1), base_task)


def export_run_update(run: Run, task: int, base_task: int | None = None,
                      sign_key: str | Path | None = None) -> dict[str, Any]:
    """:func:`export_update` under the run's lock (the CLI's entry point)."""
    with run.store.lock():
        clean_leftovers(run.store)  # a killed earlier update's staging folder
        return export_update(run, task, base_task, sign_key)
