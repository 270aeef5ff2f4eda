"""The per-task format table of ``edgecl report``: what each export bundle shipped and how fast it runs.

One row per format in ``RUN/task-NN/export/manifest.json`` (docs/CONTRACTS.md): status, file size,
gate numbers (top-1, its delta to PyTorch in percentage points, top-1 agreement, max |delta logit|)
and latency. Latency comes from the manifest when the exporter measured it
(``formats.<fmt>.latency = {p50_ms, p95_ms, images_per_s}``); otherwise it is measured here with
``edgecl_runtime``'s ONNX Runtime backend on the bundle's golden inputs, one image at a time
(batch 1), cycling through them: p50/p95 of per-call wall time, images/s = calls / total seconds.
A TensorRT engine cannot run on the CPU, so its latency is left to ``edgecl-rt bench`` on the device.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from edgecl_runtime.backends import open_backend
from edgecl_runtime.predict.bench import latency_stats
from edgecl_runtime.bundle import load_bundle
from edgecl_runtime.contract import FORMATS

STATUS_GLYPH = {"passed": "✅", "gate_failed": "❎", "export_failed": "❌"}
FORMAT_ORDER = tuple(f.name for f in FORMATS)  # the contract's table order
ONNX_FORMATS = tuple(f.name for f in FORMATS if f.onnx)
LATENCY_KEYS = ("p50_ms", "p95_ms", "images_per_s")


def ordered_formats(formats: dict[str, Any]) -> list[str]:
    """Known formats in their natural order, then any others alphabetically."""
    return [f for f in FORMAT_ORDER if f in formats] + sorted(f for f in formats if f not in FORMAT_ORDER)


def format_row(name: str, entry: dict[str, Any], files: dict[str, Any], bundle: Path) -> dict[str, Any]:
    """One table row from a ``formats.<name>`` record (no latency yet)."""
    gate = entry.get("gate") or {}
    file = entry.get("file")
    size = None
    if file:
        size_bytes = (files.get(file) or {}).get("bytes")
        if size_bytes is None and (bundle / file).is_file():
            size_bytes = (bundle / file).stat().st_size
        size = None if size_bytes is None else size_bytes / 1e6
    agreement = gate.get("top1_agreement")
    return {
        "format": name,
        "status": entry.get("status", "unknown"),
        "file": file,
        "size_mb": size,
        "top1": gate.get("accuracy"),
        "delta_pp": gate.get("accuracy_delta_pp"),
        "top1_agreement_pct": None if agreement is None else 100.0 * agreement,
        "max_abs_logit_diff": gate.get("max_abs_diff"),
        "failed_levels": gate.get("failed_levels", []),
        "note": entry.get("error") or gate.get("reason") or "",
        "latency": _manifest_latency(entry),
        "latency_source": "manifest" if _manifest_latency(entry) else None,
    }


def _manifest_latency(entry: dict[str, Any]) -> dict[str, float] | None:
    lat = entry.get("latency")
    if isinstance(lat, dict) and all(isinstance(lat.get(k), (int, float)) for k in LATENCY_KEYS):
        return {k: float(lat[k]) for k in LATENCY_KEYS}
    return None


def measure_latency(bundle, precision: str, iters: int = 40, warmup: int = 5,
                    threads: int | None = None) -> dict[str, float]:
    """Batch-1 latency of the bundle's ONNX model at ``precision`` on its golden inputs (ORT CPU,
    ``threads`` intra-op threads; None: ORT's choice)."""
    inputs = bundle.golden["inputs"]
    backend = open_backend(bundle, "ort", precision, device="cpu", threads=threads or 0)
    try:
        for i in range(warmup):
            backend.run(inputs[i % len(inputs)][None])
        times = []
        for i in range(iters):
            x = inputs[i % len(inputs)][None]
            start = time.perf_counter()
            backend.run(x)
            times.append(time.perf_counter() - start)
    finally:
        backend.close()
    stats = latency_stats(times, batch=1)
    return {"p50_ms": stats["p50_ms"], "p95_ms": stats["p95_ms"], "images_per_s": stats["throughput_ips"]}


def _fill_latency(rows: list[dict[str, Any]], bundle_dir: Path, iters: int, threads: int | None) -> list[str]:
    """Measure what the manifest lacks; returns notes on what could not be measured."""
    todo = [r for r in rows if r["latency"] is None and r["file"] and r["status"] != "export_failed"]
    if not todo or iters <= 0:
        return []
    try:
        bundle = load_bundle(bundle_dir, check_hashes=True)
    except Exception as exc:  # BundleError and anything the loader trips on: the report goes on
        return [f"latency not measured: {_first_line(exc)}"]
    if not len(bundle.golden.get("inputs", [])):
        return ["latency not measured: the bundle has no golden inputs"]
    notes = []
    for row in todo:
        if row["format"] not in ONNX_FORMATS:
            notes.append(f"{row['format']}: latency is measured on the device (`edgecl-rt bench`)")
            continue
        try:
            row["latency"] = measure_latency(bundle, row["format"], iters=iters, threads=threads)
            row["latency_source"] = "measured"
        except Exception as exc:  # a model ORT cannot load is reported, not fatal
            notes.append(f"{row['format']}: latency not measured: {_first_line(exc)}")
    return notes


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def export_section(task_dir: Path, latency_iters: int = 40, threads: int | None = None) -> dict[str, Any]:
    """The report's record of one task's export bundle (missing and unreadable ones included)."""
    bundle_dir = task_dir / "export"
    manifest_path = bundle_dir / "manifest.json"
    if not manifest_path.is_file():
        state = "missing" if not bundle_dir.exists() else "incomplete"
        hint = f"`edgecl export --run {task_dir.parent} --task {int(task_dir.name.split('-')[1])}`"
        detail = (f"no export bundle (learned with --no-export?): run {hint}" if state == "missing"
                  else "export folder has no manifest.json (export interrupted or failed)")
        return {"state": state, "detail": detail, "formats": [], "notes": []}
    try:
        manifest = json.loads(manifest_path.read_text())
        formats = manifest["formats"]
        files = manifest.get("files", {})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"state": "unreadable", "detail": f"manifest.json unreadable: {_first_line(exc)}",
                "formats": [], "notes": []}
    rows = [format_row(name, formats[name] or {}, files, bundle_dir) for name in ordered_formats(formats)]
    notes = _fill_latency(rows, bundle_dir, latency_iters, threads) + roofline_notes(bundle_dir)
    sources = sorted({r["latency_source"] for r in rows if r["latency_source"]})
    return {
        "state": "present",
        "detail": "",
        "pytorch": manifest.get("pytorch", {}),
        "deepstream": manifest.get("deepstream"),
        "created": manifest.get("created"),
        "formats": rows,
        "latency_sources": sources,
        "latency_iters": latency_iters,
        "notes": notes,
        "all_passed": all(r["status"] == "passed" for r in rows),
    }


def roofline_notes(bundle_dir: Path) -> list[str]:
    """One line per ``edgecl-rt bench`` record beside the manifest (``bench-*.json``): the
    roofline of that backend, precision and batch, so the report says how close each file ran to
    the machine's GEMM peak where it was benchmarked."""
    notes = []
    for path in sorted(bundle_dir.glob("bench-*.json")):
        try:
            rec = json.loads(path.read_text())
            rate, peak, frac = rec.get("gflops"), rec.get("peak_gflops"), rec.get("peak_fraction")
            head = (f"roofline `{rec['precision']}` on {rec['backend']} ({rec.get('device', '?')}), "
                    f"batch {rec['batch']}, {rec.get('threads') or 'default'} thread(s): p50 {rec['p50_ms']:.2f} ms")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            notes.append(f"{path.name} unreadable: {_first_line(exc)}")
            continue
        if rate is None:
            notes.append(head + ", FLOPs unknown")
            continue
        tail = "" if frac is None else f" = {100 * frac:.1f} % of the measured GEMM peak {peak:.0f} GFLOP/s"
        own = rec.get("roofline_fraction")
        if own is not None and rec.get("precision") in ("int8", "int8cpu"):
            tail += f", {100 * own:.1f} % of its own roofline (float FLOPs at the float peak)"
        notes.append(head + f", {rec['gflop']:.3f} GFLOP/call, {rate:.1f} GFLOP/s{tail}")
    return notes


def summarise_statuses(rows: list[dict[str, Any]]) -> str:
    """``fp32 ✅ fp16 ❎ ...`` for a one-line overview."""
    return " ".join(f"{r['format']} {STATUS_GLYPH.get(r['status'], '?')}" for r in rows)
