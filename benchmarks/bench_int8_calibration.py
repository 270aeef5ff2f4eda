"""INT8 calibration methods side by side: MinMax, Percentile and Entropy on the same learned runs.

    python benchmarks/bench_int8_calibration.py --workdir runs/calib          # learns the runs first
    python benchmarks/bench_int8_calibration.py --workdir runs/calib --tasks 5 --threads 1

For each run (learned once with ``--no-export``, or reused when ``WORKDIR/NAME`` already holds it)
and each chosen task, ``edgecl.export(..., formats="int8,-fp16,-int8cpu,-trt", int8_calibration=M)``
(INT8 only, the others removed by name) is called for every method in turn, on the same calibration images (the run's stratified sample), and the INT8
entry of the manifest is read back:

* first try: the gate of the fully quantised file (top-1 agreement with PyTorch over every seen
  task's test set, accuracy change, max |dlogit| on the golden images), before any fallback;
* the layers the accuracy-aware fallback had to keep float, and the share of MatMul/Gemm FLOPs
  left int8;
* calibration seconds (quantisation included) and fallback seconds.

Streams: the bundled Split-MNIST default (with CA, as shipped, and with ``--align none``, the case
whose small logit margins fail INT8) and Split-Fashion-MNIST (1 epoch per task).
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import edgecl

console = Console(width=160)
METHODS = ("minmax", "percentile", "entropy")
# folder name: run options (the bundled default stream is shipped with CA)
RUNS: dict[str, dict[str, Any]] = {
    "mnist-ca": {},
    "mnist-none": {"align": "none"},
    "fashion-ca": {"dataset": "fashion-mnist", "epochs": 1},
}


def learned(workdir: Path, name: str, options: dict[str, Any], threads: int) -> Path:
    """The run ``workdir/<name>``, learned to its last task without export (reused when finished)."""
    run = workdir / name
    opened = edgecl.open_run(run) if (run / "run.json").is_file() else None
    if opened is None or len(opened.finished_tasks()) < opened.num_tasks:
        console.print(f"learning {name} into {run} ...")
        edgecl.learn(run, all_tasks=True, export=False, device="cpu", threads=threads, **options)
    return run


def int8_row(manifest: dict[str, Any]) -> dict[str, Any]:
    """The numbers of one INT8 export (the first try is the gate before any fallback)."""
    entry = manifest["formats"]["int8"]
    fallback = entry.get("fallback") or {}
    first = fallback.get("first_gate") or entry.get("gate") or {}
    return {
        "status": entry.get("status"),
        "first_agreement": first.get("top1_agreement"), "first_dacc": first.get("accuracy_delta_pp"),
        "first_dlogit": first.get("max_abs_diff"), "first_passed": bool(first.get("passed")),
        "float_layers": len(entry.get("float_nodes") or []),
        "fraction": entry.get("quantized_matmul_fraction"),
        "final_agreement": (entry.get("gate") or {}).get("top1_agreement"),
        "seconds": entry.get("export_seconds"), "fallback_seconds": entry.get("fallback_seconds") or 0.0,
    }


def measure(run: Path, task: int) -> dict[str, dict[str, Any]]:
    """One INT8 export per method of ``task`` of ``run``; {method: int8_row}."""
    rows = {}
    for method in METHODS:
        manifest = edgecl.export(run, task=task, formats="int8,-fp16,-int8cpu,-trt", int8_calibration=method)
        rows[method] = int8_row(manifest)
    return rows


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table(results: dict[tuple[str, int], dict[str, dict[str, Any]]]) -> Table:
    out = Table(title="INT8 calibration methods (same runs, same calibration images; first try = before the fallback)")
    for col in ("stream", "task", "method", "first agreement %", "first dacc pp", "first max|dlogit|",
                "float layers", "MatMul int8 %", "final agreement %", "status", "calib s", "fallback s"):
        out.add_column(col, justify="right")
    for (stream, task), rows in results.items():
        for method, r in rows.items():
            out.add_row(stream, str(task), method, _pct(r["first_agreement"]), _num(r["first_dacc"], "+.2f"),
                        _num(r["first_dlogit"], ".2f"), str(r["float_layers"]), _pct(r["fraction"]),
                        _pct(r["final_agreement"]), str(r["status"]), _num(r["seconds"], ".1f"),
                        _num(r["fallback_seconds"], ".1f"))
    return out


def summary(results: dict[tuple[str, int], dict[str, dict[str, Any]]]) -> Table:
    """Per method over every (stream, task): first-try passes, float layers, int8 share, time."""
    out = Table(title="Per method, over every stream and task")
    for col in ("method", "passed first try", "passed", "mean float layers", "min MatMul int8 %",
                "mean first agreement %", "median calib s", "total fallback s"):
        out.add_column(col, justify="right")
    for method in METHODS:
        rows = [r[method] for r in results.values()]
        out.add_row(method, f"{sum(r['first_passed'] for r in rows)}/{len(rows)}",
                    f"{sum(r['status'] == 'passed' for r in rows)}/{len(rows)}",
                    f"{statistics.mean(r['float_layers'] for r in rows):.1f}",
                    _pct(min((r["fraction"] for r in rows if r["fraction"] is not None), default=None)),
                    _pct(statistics.mean(r["first_agreement"] for r in rows)),
                    f"{statistics.median(r['seconds'] for r in rows):.1f}",
                    f"{sum(r['fallback_seconds'] for r in rows):.0f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="runs are learned (or found) here")
    parser.add_argument("--tasks", type=int, nargs="+", default=[3, 5], help="tasks exported per run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--streams", nargs="+", default=list(RUNS), choices=list(RUNS))
    args = parser.parse_args()
    results: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for name in args.streams:
        run = learned(args.workdir, name, RUNS[name], args.threads)
        for task in args.tasks:
            console.print(f"{name}: task {task} ...")
            results[(name, task)] = measure(run, task)
    console.print(table(results))
    console.print(summary(results))
    (args.workdir / "int8_calibration.json").write_text(
        json.dumps({f"{s} | task {t}": rows for (s, t), rows in results.items()}, indent=1))


if __name__ == "__main__":
    main()
