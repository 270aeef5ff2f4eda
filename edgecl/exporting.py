"""Store -> bundle: what ``edgecl export`` and the export after every learned task do (no printing).

Data flows one way: the finished task's weights are read back from the store (checksums checked),
the test sets of every seen task and a stratified calibration sample of their training images are
prepared with the evaluation transform (the device's preprocessing), and ``edgecl.exporters``
writes and gates the bundle in ``task-NN/export/``.

Memory stays bounded: test and calibration sets are handed over as batch sources
(:class:`edgecl.exporters.parity.sources.BatchSource`) that decode ``EXPORT_BATCH`` images at a time on
demand; only logits, labels and the golden images (chosen from the labels, then read) are kept.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgecl.data.run_data import RunData, open_data
from edgecl.config import check_int8_calibration
from edgecl.errors import StoreError, UsageError
from edgecl_runtime.backends.trt.compat import tensorrt_available
from edgecl_runtime.contract import format_named
from edgecl_runtime.inputs.preprocess import spec_chw
from edgecl.exporters.bundle import export_bundle
from edgecl.exporters.manifest import failed_formats
from edgecl.exporters.parity.golden import select_golden
from edgecl.exporters.parity.sampling import stratified_sample
from edgecl.exporters.parity.sources import BatchSource
from edgecl.exporters.quantize.calibration import Int8Options
from edgecl.exporters.request import ExportData, ExportRequest
from edgecl.data.nvinfer_view import nvinfer_sources
from edgecl.format_choice import FormatChoice, FormatPlan, plan_formats, shipped_formats
from edgecl.run.bundles import EXPORT_DIR, bundle_dir, clean_leftovers
from edgecl.run.store import task_dirname
from edgecl.run.models import task_model
from edgecl.run.run import Run
from edgecl.run.signing import check_sign_key

CALIBRATION_IMAGES = 512
EXPORT_BATCH = 32  # images decoded at once (224 px: 19 MB of float32)


def calibration_indices(data: RunData, task: int, seed: int) -> np.ndarray:
    """Training-set indices of a stratified sample over every class of every seen task (fresh per task).

    INT8 scales are fixed by what calibration sees; a sample of the newest task only would clip the
    activations of older classes, so every seen class gets its share.
    """
    idx = np.concatenate([data.indices("train", j) for j in range(1, task + 1)])
    labels = data.position[torch.from_numpy(data.source.train.labels[idx])].numpy()
    return np.sort(idx[stratified_sample(labels, min(CALIBRATION_IMAGES, len(idx)), seed=seed)])


def split_source(data: RunData, split: str, idx: np.ndarray, chw: tuple[int, int, int],
                 batch_size: int = EXPORT_BATCH) -> BatchSource:
    """Images ``idx`` of ``split`` as a batch source: labels now (output positions), pixels on demand."""
    idx = np.asarray(idx)
    labels = data.position[torch.from_numpy(np.asarray(getattr(data.source, split).labels)[idx])].numpy()
    return BatchSource(labels, chw, lambda rows: data.eval_batches(split, idx[rows], batch_size))


def test_sources(data: RunData, task: int, chw: tuple[int, int, int]) -> list[BatchSource]:
    """One streamed test set per seen task (1..``task``)."""
    return [split_source(data, "test", data.indices("test", j), chw) for j in range(1, task + 1)]


def calibration_source(data: RunData, task: int, seed: int, chw: tuple[int, int, int]) -> BatchSource:
    """The images of :func:`calibration_indices` as a batch source (read while calibrating)."""
    return split_source(data, "train", calibration_indices(data, task, seed), chw)


def export_task(run: Run, data: RunData, task: int, formats: set[str], opset: int | None = None,
                max_batch: int | None = None, sign_key: str | Path | None = None,
                int8_calibration: str | None = None) -> dict[str, Any]:
    """Write and gate ``task``'s bundle; returns its manifest (failed formats are recorded in it).

    ``sign_key``: the bundle also gets ``manifest.sig`` (written in the staging folder, so the
    bundle appears signed in the same rename that publishes it). ``int8_calibration``: this
    export's calibration method instead of the run's (``config.int8_calibration``, checked when the
    config was loaded; an override is checked by :func:`export_run_task`, where it enters)."""
    config = run.config
    key = None if sign_key is None else check_sign_key(sign_key)  # before any work
    request = ExportRequest(run.seen_class_names(task), run.input, frozenset(formats),
                            Int8Options(method=int8_calibration or config.int8_calibration),
                            opset=opset or config.opset, max_batch=max_batch or config.max_batch,
                            thresholds=config.extra.get("thresholds"), run_name=run.name, task=task, sign_key=key)
    chw = spec_chw(dict(run.input))
    test_sets = test_sources(data, task, chw)
    golden = select_golden(test_sets, seed=config.seed)  # reads the golden images only
    calib = calibration_source(data, task, run.seed(task), chw) if "int8" in formats else None
    data_in = ExportData(test_sets, golden, calib, nvinfer_sources(data, task),
                         nvinfer_sources(data, task, "nearest"))
    return export_bundle(task_model(run, task), run.store.task_dir(task) / "export", request, data_in)


class ExportEvents:
    """Hooks a caller of :func:`edgecl.export` may override to watch an export (no-ops here)."""

    def planned(self, run: Run, plan: FormatPlan) -> None:
        """The formats are chosen (nothing is written yet): what is exported, kept and removed."""

    def exported(self, run: Run, manifest: dict[str, Any]) -> None:
        """The bundle is written (failed formats are recorded in ``manifest``)."""

    def published(self, triton: dict[str, Any]) -> None:
        """The task is a Triton model version (``publish_task``'s record)."""

    def updated(self, run: Run, update: dict[str, Any]) -> None:
        """The over-the-air update folder is written (its ``update.json``)."""

    def notice(self, line: str) -> None:
        """Something the user should act on (an update made from a previous export of this task)."""


def finished_task(run: Run, task: int | None) -> int:
    """``task`` (default: the latest finished) if it is finished, else one line saying what to do."""
    done = run.finished_tasks()
    if not done:
        raise StoreError(f"run {run.root} has no finished task to export: run `edgecl learn --run {run.root}` first")
    task = task or done[-1]
    if task not in done:
        raise UsageError(f"task {task} is not learned yet (finished: 1..{done[-1]}): learn it first")
    return task


def export_plan(run: Run, task: int, choice: FormatChoice | None, update_from: int | None = None) -> FormatPlan:
    """The formats exporting ``task`` writes: the choice applied to the run's formats and to every
    format task ``task``'s bundle (and the update's base bundle ``update_from``) already ships;
    a choice that would drop a shipped format without naming it is refused (:func:`plan_formats`)."""
    tasks = [task] + ([update_from] if update_from is not None else [])
    shipped = frozenset().union(*(shipped_formats(bundle_dir(run.store, t)) for t in tasks))
    where = " and ".join(f"{task_dirname(t)}/{EXPORT_DIR}" for t in tasks)
    unbuildable = () if tensorrt_available() else (format_named("trt_fp16").request,)
    return plan_formats(run.config.export_formats, shipped, choice, where, unbuildable)


def export_run_task(run: Run, task: int | None, formats: set[str], opset: int | None = None,
                    max_batch: int | None = None, sign_key: str | Path | None = None,
                    int8_calibration: str | None = None) -> dict[str, Any]:
    """Export a finished task of ``run`` (default: the latest) under the run's lock.

    Signed with ``sign_key``, else with the run's stored key (if any); leftovers of interrupted
    writes are removed first (:func:`edgecl.run.bundles.clean_leftovers`)."""
    key = sign_key if sign_key is not None else run.config.sign_key
    if key is not None:
        check_sign_key(key)  # a bad key is refused before the lock, the data and the export
    if int8_calibration is not None:
        check_int8_calibration(int8_calibration)
    task = finished_task(run, task)
    with run.store.lock():
        clean_leftovers(run.store)
        data = open_data(run)
        try:
            return export_task(run, data, task, formats, opset, max_batch, key, int8_calibration)
        finally:
            data.close()


__all__ = ["ExportEvents", "export_task", "export_run_task", "export_plan", "finished_task", "calibration_indices", "calibration_source",
           "test_sources", "split_source", "failed_formats", "EXPORT_BATCH"]
