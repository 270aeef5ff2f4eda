"""What ``edgecl export`` (and the export after every learned task) does: store -> bundle.

Data flows one way: the finished task's weights are read back from the store (checksums checked),
the test sets of every seen task and a stratified calibration sample of their training images are
prepared with the evaluation transform (the device's preprocessing), and ``edgecl.exporters``
writes and gates the bundle in ``task-NN/export/``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.table import Table

from .config import RunConfig
from .console import console, fail
from .exporters.bundle import export_bundle
from .data.stream import seen_classes
from .exporters.golden import select_golden
from .exporters.manifest import failed_formats
from .exporters.sampling import stratified_sample
from .model import Normalized
from .store import RunStore

CALIBRATION_IMAGES = 512


def _arrays(data, split: str, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for x, y in data.eval_batches(split, idx):
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def task_model(store: RunStore, run: dict[str, Any], task: int) -> torch.nn.Module:
    """The stored model after ``task`` with its normalisation, exactly as a device will run it."""
    from .session import stored_vit

    config = RunConfig.from_dict(run["config"])
    return Normalized(stored_vit(store, run, task), config.mean, config.std).eval()


def calibration_set(data, task: int, seed: int) -> np.ndarray:
    """A stratified sample of training images from every seen task (fresh for every task)."""
    idx = np.concatenate([data.indices("train", j) for j in range(1, task + 1)])
    labels = data.position[torch.from_numpy(data.source.train.labels[idx])].numpy()
    pick = idx[stratified_sample(labels, min(CALIBRATION_IMAGES, len(idx)), seed=seed)]
    return _arrays(data, "train", np.sort(pick))[0]


def export_task(store: RunStore, run: dict[str, Any], data, task: int, formats: set[str],
                opset: int, max_batch: int) -> dict[str, Any]:
    config = RunConfig.from_dict(run["config"])
    test_sets = [_arrays(data, "test", data.indices("test", j)) for j in range(1, task + 1)]
    golden = select_golden(test_sets, seed=config.seed)
    calib = calibration_set(data, task, config.seed * 1000 + task) if "int8" in formats else None
    classes = [run["class_names"][c] for c in seen_classes(run["task_classes"], task)]
    return export_bundle(task_model(store, run, task), store.task_dir(task) / "export", classes=classes,
                         input_spec=run["input"], golden=golden, test_sets=test_sets, calib=calib,
                         formats=formats, opset=opset, max_batch=max_batch,
                         thresholds=config.extra.get("thresholds"), run_name=store.root.name, task=task)


def manifest_table(manifest: dict[str, Any]) -> Table:
    table = Table(title=f"export of task {manifest['task']} (gate vs PyTorch)")
    for col in ("format", "status", "max |Δlogit|", "top-1 agree", "acc %", "Δ pp"):
        table.add_column(col, no_wrap=True)
    mark = {"passed": "✅ passed", "gate_failed": "❎ gate failed", "export_failed": "❌ export failed"}
    for name, entry in manifest["formats"].items():
        gate = entry.get("gate") or {}
        table.add_row(name, mark.get(entry.get("status"), str(entry.get("status"))),
                      _fmt(gate.get("max_abs_diff"), ".1e"), _fmt(gate.get("top1_agreement"), ".4f"),
                      _fmt(gate.get("accuracy"), ".2f"), _fmt(gate.get("accuracy_delta_pp"), "+.2f"))
    return table


def failure_lines(manifest: dict[str, Any]) -> list[str]:
    """One line per failed format: the failing level(s) or the export error."""
    lines = []
    for name, entry in manifest["formats"].items():
        if entry.get("status") not in (None, "passed"):
            reason = (entry.get("gate") or {}).get("reason") or entry.get("error") or "failed"
            lines.append(f"{name}: {reason}")
    return lines


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def export_after_task(store: RunStore, run: dict[str, Any], data, task: int, device: torch.device) -> list[str]:
    """The export ``learn`` runs after each task, with the formats chosen at run creation."""
    config = RunConfig.from_dict(run["config"])
    manifest = export_task(store, run, data, task, set(config.export_formats), config.opset, config.max_batch)
    console.print(manifest_table(manifest))
    for line in failure_lines(manifest):
        console.print(f"  {line}")
    return failed_formats(manifest)


def run_export(run_dir: Path, task: int | None, formats: set[str], opset: int | None, max_batch: int | None) -> None:
    from .session import open_data

    store = RunStore(run_dir)
    if not store.exists():
        fail(f"no run at {run_dir}: learn a task first with `edgecl learn --run {run_dir}`")
    done = store.finished_tasks()
    if not done:
        fail(f"run {run_dir} has no finished task to export: run `edgecl learn --run {run_dir}` first")
    task = task or done[-1]
    if task not in done:
        fail(f"task {task} is not learned yet (finished: {done[-1] if done else 'none'}): learn it first")
    run = store.read_run()
    config = store.config()
    with store.lock():
        manifest = export_task(store, run, open_data(run), task, formats,
                               opset or config.opset, max_batch or config.max_batch)
    console.print(manifest_table(manifest))
    for line in failure_lines(manifest):
        console.print(f"  {line}")
    failed = failed_formats(manifest)
    console.print(f"bundle: {store.task_dir(task) / 'export'}")
    if failed:
        fail(f"formats failed their gate or export: {', '.join(failed)} (see manifest.json)", code=1)
