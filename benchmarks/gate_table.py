"""The parity gate of every exported task of some runs, read back from their manifests, as one table.

``gate_rows`` reads ``RUN/task-NN/export/manifest.json`` of each run (``formats.<fmt>.gate``, and for
INT8 the accuracy-aware fallback's ``float_nodes`` and ``quantized_matmul_fraction``);
``gate_table`` turns the rows into a Rich table and ``gate_summary`` into the "N/N gates passed"
line. Used by ``benchmarks/bench_learn.py``.
"""
from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.table import Table


def gate_rows(runs: Mapping[str, Path]) -> list[dict[str, Any]]:
    """One row per (run, task, format) found in the runs' manifests, in run, task, manifest order."""
    rows = []
    for name, run in runs.items():
        for path in sorted(Path(run).glob("task-*/export/manifest.json")):
            manifest = json.loads(path.read_text())
            for fmt, entry in manifest.get("formats", {}).items():
                gate = entry.get("gate") or {}
                status = entry.get("status")
                rows.append({
                    "run": name, "task": int(manifest["task"]), "format": fmt, "status": status,
                    "requested": entry.get("requested", True), "passed": status == "passed",
                    "top1_agreement": gate.get("top1_agreement"), "max_abs_diff": gate.get("max_abs_diff"),
                    "accuracy_delta_pp": gate.get("accuracy_delta_pp"),
                    "float_layers": len(entry["float_nodes"]) if "float_nodes" in entry else None,
                    "quantized_matmul_fraction": entry.get("quantized_matmul_fraction"),
                    "export_seconds": entry.get("export_seconds"),
                    "reason": "" if status == "passed" else (gate.get("reason") or entry.get("error") or str(status)),
                })
    return rows


def gate_summary(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(passed, total) over the requested formats (what ``edgecl learn`` turns into its exit code)."""
    counted = [r for r in rows if r["requested"]]
    return sum(r["passed"] for r in counted), len(counted)


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def gate_table(rows: list[dict[str, Any]], title: str = "parity gate of every exported task (vs PyTorch)") -> Table:
    table = Table(title=title)
    for col in ("run", "task", "format", "top-1 agree", "max |Δlogit|", "Δ acc pp", "passed",
                "int8 float layers", "int8 MatMul FLOPs quantised", "export s"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r["run"], str(r["task"]), r["format"], _fmt(r["top1_agreement"], ".4f"),
                      _fmt(r["max_abs_diff"], ".1e"), _fmt(r["accuracy_delta_pp"], "+.2f"),
                      "yes" if r["passed"] else "NO",
                      _fmt(r["float_layers"], "d"),
                      "" if r["quantized_matmul_fraction"] is None else f"{100 * r['quantized_matmul_fraction']:.1f} %",
                      _fmt(r["export_seconds"], ".1f"))
    return table


def failure_lines(rows: list[dict[str, Any]]) -> list[str]:
    """``run task N format: reason (numbers)`` for every requested format that did not pass."""
    return [f"{r['run']} task {r['task']} {r['format']}: {r['reason']} (top-1 {_fmt(r['top1_agreement'], '.4f')}, "
            f"max |Δlogit| {_fmt(r['max_abs_diff'], '.3g')}, Δ acc {_fmt(r['accuracy_delta_pp'], '+.2f')} pp)"
            for r in rows if r["requested"] and not r["passed"]]


def tensorrt_available() -> bool:
    return importlib.util.find_spec("tensorrt") is not None
