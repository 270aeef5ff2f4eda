"""``edgecl report``: one run's results gathered into a Markdown report, the same data as JSON, and plots.

Sources (read only, never written): ``RUN/run.json`` (config), ``RUN/metrics.json`` (accuracy
matrix, A_T, mean incremental accuracy, forgetting, backward transfer, interference, old-space
dimensions, seconds), ``RUN/task-NN/metrics.json`` (accuracy on all seen classes after each task,
memory kinds) and ``RUN/task-NN/export/manifest.json`` (one format table per task).

A run is reported as it is on disk: a task folder without ``record.json`` (interrupted or damaged),
a task after such a gap (ignored by ``edgecl learn``), tasks not learned yet and missing or failed
exports are listed as such. When ``RUN/metrics.json`` disagrees with the complete task folders it is
recomputed from their per-task metrics (``edgecl.learning.metrics.run_metrics``, the same function that
wrote it) and the report says so.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgecl_runtime.atomic_io import read_json, write_bytes_atomic, write_json_atomic
from edgecl.learning.metrics import run_metrics
from edgecl.reporting.exports import export_section
from edgecl.updating import update_breakdown
from edgecl.run.run import open_run
from edgecl.run.store import RECORD, RunStore, task_dirname

REPORT_VERSION = 1
PHASES = ("statistics", "training", "memory_update", "alignment", "evaluation")
INFLORA_EXTRA = ("statistics", "memory_update")  # work a plain fine-tuning of the head would not do


def _numbered(root: Path, pattern: str) -> set[int]:
    """Task numbers of the folders in ``root`` whose name matches ``pattern`` (one group: the number)."""
    found = (re.fullmatch(pattern, p.name) for p in root.iterdir() if p.is_dir())
    return {int(m.group(1)) for m in found if m}


def task_states(store: RunStore, planned: int) -> list[dict[str, Any]]:
    """State of every planned task (and any stray folder beyond): learned / incomplete / stale / not learned."""
    complete = set(store.finished_tasks())
    folders = _numbered(store.root, r"task-(\d+)")
    partial = _numbered(store.root, r"\.task-(\d+)\.partial-.*")
    nxt = len(complete) + 1
    out = []
    for t in range(1, max([planned, *folders]) + 1):
        folder = store.task_dir(t)
        if t in complete:
            state, detail = "learned", ""
        elif folder.is_dir() and not (folder / RECORD).is_file():
            state = "incomplete"
            detail = f"{task_dirname(t)} has no {RECORD} (interrupted or damaged): relearn with --task {t} --force"
        elif folder.is_dir():
            state, detail = "stale", f"learned, but task {nxt} before it is missing: ignored until relearned"
        else:
            state = "not learned"
            detail = "next to learn" if t == nxt else ""
        if t in partial and state != "learned":
            detail = (detail + "; " if detail else "") + "a partial folder of an interrupted attempt exists"
        if t > planned:
            detail = (detail + "; " if detail else "") + f"beyond the run's {planned} tasks"
        out.append({"task": t, "state": state, "detail": detail})
    return out


def _task_metrics(store: RunStore, complete: list[int], warnings: list[str]) -> list[dict[str, Any]]:
    """Per-task metrics of the complete tasks, stopping at the first unreadable one."""
    out = []
    for t in complete:
        try:
            out.append(read_json(store.task_dir(t) / "metrics.json", f"metrics of task {t}"))
        except (FileNotFoundError, ValueError) as exc:
            warnings.append(f"{exc}; tasks from {t} on are left out of the metrics")
            break
    return out


def _run_level_metrics(store: RunStore, per_task: list[dict[str, Any]], warnings: list[str]) -> tuple[dict, str]:
    try:
        metrics = read_json(store.root / "metrics.json", "run metrics")
    except FileNotFoundError:
        metrics = None
    except ValueError as exc:
        warnings.append(str(exc))
        metrics = None
    if metrics is not None and metrics.get("tasks_done") == len(per_task):
        return metrics, "metrics.json"
    if metrics is not None:
        warnings.append(f"metrics.json lists {metrics.get('tasks_done')} tasks but {len(per_task)} are complete "
                        "on disk: metrics recomputed from the complete tasks")
    return run_metrics(per_task), "recomputed from task-NN/metrics.json"


def _feature_dim(store: RunStore, complete: list[int]) -> int | None:
    """d, the width of the memories (rows of a stored basis), read from safetensors headers only."""
    if not complete:
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(store.task_dir(complete[-1]) / "memory.safetensors"), "pt") as fh:
            return int(fh.get_slice("blocks.0.basis").get_shape()[0])
    except Exception:  # a missing or damaged memory file only costs the reference line in a plot
        return None


def time_rows(seconds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task: every phase, the total, and InfLoRA's extra phases as a share of the total."""
    rows = []
    for entry in seconds:
        phases = {p: entry.get(p) for p in PHASES}
        total = sum(v for v in phases.values() if v is not None)
        extra = sum(phases[p] or 0.0 for p in INFLORA_EXTRA)
        rows.append({"task": entry.get("task"), **phases, "total": total, "data_wait": entry.get("data_wait"),
                     "inflora_extra_share": extra / total if total > 0 else None})
    return rows


def run_section(store: RunStore) -> dict[str, Any]:
    """Everything measured while learning (no exports): accuracy, interference, memory, time."""
    warnings: list[str] = []
    complete = store.finished_tasks()
    per_task = _task_metrics(store, complete, warnings)
    metrics, source = _run_level_metrics(store, per_task, warnings)
    matrix = metrics.get("accuracy_matrix", [])
    seen = [m.get("seen_accuracy", sum(row) / len(row) if row else None) for m, row in zip(per_task, matrix)]
    return {
        "metrics_source": source,
        "tasks_done": len(matrix),
        "accuracy_matrix": matrix,
        "seen_accuracy": seen,
        "final_accuracy": metrics.get("final_accuracy"),
        "average_incremental_accuracy": metrics.get("average_incremental_accuracy"),
        "forgetting": metrics.get("forgetting"),
        "backward_transfer": metrics.get("backward_transfer"),
        "interference": metrics.get("interference", []),
        "old_space_dim": metrics.get("old_space_dim", []),
        "memory_kind": [m.get("memory_kind", []) for m in per_task],
        "feature_dim": _feature_dim(store, complete[: len(per_task)]),
        "seconds": time_rows(metrics.get("seconds", [])),
        "warnings": warnings,
    }


def compare_section(baseline: Path) -> dict[str, Any]:
    """The baseline run's accuracy curve and summary (e.g. SeqLoRA), for side-by-side reading."""
    opened = open_run(baseline)
    section = run_section(opened.store)
    keep = ("tasks_done", "accuracy_matrix", "seen_accuracy", "final_accuracy", "average_incremental_accuracy",
            "forgetting", "backward_transfer", "warnings")
    return {"run": str(baseline), "name": baseline.name, "method": opened.config.method,
            "align": opened.config.align, **{k: section[k] for k in keep}}


def collect_report(run: Path, compare: Path | None = None, latency_iters: int = 40,
                   threads: int | None = None) -> dict[str, Any]:
    """The report's data (JSON-ready). ``latency_iters`` = 0 skips measuring latency the manifest
    lacks; ``threads``: ONNX Runtime's threads when it measures (checked by the caller)."""
    opened = open_run(run)
    store = opened.store
    planned = opened.num_tasks
    states = task_states(store, planned)
    classes = [opened.task_class_names(t) for t in range(1, planned + 1)]
    exports = [{"task": s["task"], **export_section(store.task_dir(s["task"]), latency_iters, threads),
                "updates": _updates(store.task_dir(s["task"]))} for s in states if s["state"] == "learned"]
    return {
        "report_version": REPORT_VERSION,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": str(run),
        "name": Path(run).resolve().name,
        "config": opened.config.to_dict(),
        "run_info": {"created": opened.meta.get("created"), "input": opened.input,
                     "view": None if opened.view is None else {**opened.view.to_dict(), "line": opened.view.line(),
                                                               "notices": opened.view.notices()},
                     "versions": opened.meta.get("versions"), "weights_sha256": opened.weights_sha256},
        "task_classes": classes,
        "tasks_planned": planned,
        "tasks": states,
        **run_section(store),
        "exports": exports,
        "compare": None if compare is None else compare_section(compare),
    }


def _updates(task_dir: Path) -> list[dict[str, Any]]:
    """Every over-the-air update of the task, with its sizes (an unreadable one: its error)."""
    out = []
    for folder in sorted(task_dir.glob("update-from-*")):
        try:
            out.append(update_breakdown(folder))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out.append({"folder": folder.name, "error": f"unreadable ({type(exc).__name__})"})
    return out


def report_paths(out: Path) -> dict[str, Path]:
    """The Markdown file, its JSON twin and the PNGs, all beside each other."""
    return {
        "markdown": out,
        "json": out.with_suffix(".json"),
        "accuracy_matrix": out.with_name(f"{out.stem}-accuracy-matrix.png"),
        "seen_accuracy": out.with_name(f"{out.stem}-seen-accuracy.png"),
        "memory": out.with_name(f"{out.stem}-memory.png"),
    }


def write_report(run: Path, out: Path | None = None, compare: Path | None = None,
                 latency_iters: int = 40, threads: int | None = None) -> dict[str, Path]:
    """Collect, plot and write the report; returns the written paths (default ``RUN/report.md``)."""
    from edgecl.reporting.markdown import render_markdown
    from edgecl.reporting.plots import PLOTS

    data = collect_report(Path(run), compare, latency_iters, threads)
    paths = report_paths(Path(out) if out is not None else Path(run) / "report.md")
    data["plots"] = {}
    for name, plot in PLOTS.items():
        write_bytes_atomic(paths[name], plot(data))
        data["plots"][name] = paths[name].name
    write_json_atomic(paths["json"], data)
    write_bytes_atomic(paths["markdown"], render_markdown(data).encode())
    return paths
