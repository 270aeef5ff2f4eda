"""Markdown rendering of the ``edgecl report`` data (see :mod:`edgecl.reporting.collect` for what is collected).

Pure string formatting: every number shown here is in the JSON written beside the report. Missing
values print as an em dash, so a partial run renders the same sections with gaps, never an error.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from edgecl.reporting.exports import STATUS_GLYPH, summarise_statuses

DASH = "—"
STATE_GLYPH = {"learned": "✅", "incomplete": "⚠️", "stale": "⚠️", "not learned": "·"}
STATUS_WORDS = {"passed": "passed gate", "gate_failed": "exported, gate failed", "export_failed": "export failed"}


def num(value: Any, fmt: str = ".2f", suffix: str = "") -> str:
    """``value`` formatted, or a dash when it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return DASH
    return f"{value:{fmt}}{suffix}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` is one char per column (l/r), default: first left, rest right."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = [_row(header), "| " + " | ".join(rule) + " |", *(_row(r) for r in rows)]
    return "\n".join(lines)


def _row(cells: Sequence[Any]) -> str:
    """One table line; a literal ``|`` inside a cell is escaped so it cannot split the cell."""
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _tasks(data: dict[str, Any]) -> str:
    classes = data["task_classes"]
    rows = []
    for s in data["tasks"]:
        names = classes[s["task"] - 1] if s["task"] <= len(classes) else []
        rows.append([f"{s['task']}", ", ".join(map(str, names)) or DASH,
                     f"{STATE_GLYPH.get(s['state'], '?')} {s['state']}", s["detail"] or ""])
    done = sum(s["state"] == "learned" for s in data["tasks"])
    head = f"{done} of {data['tasks_planned']} tasks learned."
    return head + "\n\n" + table(["Task", "Classes", "State", "Detail"], rows, "llll")


def _config(data: dict[str, Any]) -> str:
    rows = [[f"`{k}`", f"`{json.dumps(v)}`"] for k, v in data["config"].items()]
    info = data.get("run_info") or {}
    for key in ("created", "weights_sha256"):
        if info.get(key):
            rows.append([f"`{key}`", f"`{info[key]}`"])
    if info.get("input"):
        rows.append(["`input`", f"`{json.dumps(info['input'])}`"])
    if info.get("versions"):
        rows.append(["`versions`", f"`{json.dumps(info['versions'])}`"])
    return table(["Option", "Value"], rows, "ll")


def _summary(data: dict[str, Any]) -> str:
    keys = [("A_T: accuracy on all seen classes after the last task (%)", "final_accuracy"),
            ("Mean incremental accuracy (%)", "average_incremental_accuracy"),
            ("Forgetting (pp, lower is better)", "forgetting"),
            ("Backward transfer (pp)", "backward_transfer"),
            ("Tasks learned", "tasks_done")]
    cmp = data.get("compare")
    header = ["Metric", f"this run ({data['config'].get('method', '?')})"]
    if cmp:
        header.append(f"baseline: {cmp['method']} ({cmp['name']})")
    rows = []
    for label, key in keys:
        fmt = "d" if key == "tasks_done" else ".2f"
        rows.append([label, num(data.get(key), fmt)] + ([num(cmp.get(key), fmt)] if cmp else []))
    return table(header, rows)


def _matrix(data: dict[str, Any]) -> str:
    matrix = data["accuracy_matrix"]
    if not matrix:
        return "No task learned yet."
    n = len(matrix)
    rows = [[f"after task {i + 1}"] + [num(row[j], ".1f") if j < len(row) else "" for j in range(n)]
            for i, row in enumerate(matrix)]
    text = "Row i: accuracy (%) on each task's test set after learning task i.\n\n"
    return text + table(["", *[f"T{j + 1}" for j in range(n)]], rows)


def _seen(data: dict[str, Any]) -> str:
    cmp = data.get("compare")
    n = max(len(data["seen_accuracy"]), len(cmp["seen_accuracy"]) if cmp else 0)
    if n == 0:
        return "No task learned yet."
    header = ["After task", "this run (%)"] + ([f"{cmp['method']} baseline (%)"] if cmp else [])
    rows = []
    for t in range(n):
        row = [f"{t + 1}", num(_at(data["seen_accuracy"], t), ".2f")]
        rows.append(row + ([num(_at(cmp["seen_accuracy"], t), ".2f")] if cmp else []))
    return table(header, rows)


def _at(values: Sequence[Any], i: int) -> Any:
    return values[i] if i < len(values) else None


def _interference(data: dict[str, Any]) -> str:
    entries = data["interference"]
    if not entries:
        return "No task learned yet."
    rows = []
    for e in entries:
        ratios = ", ".join(num(r, ".1e") for r in e.get("kv_weight_ratio", [])) or DASH
        drift = ", ".join(f"T{k}: {num(v, '.4f')}" for k, v in sorted(e.get("feature_drift", {}).items(),
                                                                       key=lambda kv: int(kv[0]))) or DASH
        rows.append([f"{e.get('task')}", ratios, num(e.get("kv_weight_ratio_max"), ".1e"), drift,
                     num(e.get("feature_drift_mean"), ".4f") if e.get("feature_drift") else DASH])
    text = ("`kv ratio` = ||ΔW P_old||_F / ||ΔW||_F of each block's K/V weight change (0: old inputs untouched); "
            "feature drift = mean ||f_t(x) - f_j(x)|| / ||f_j(x)|| on old task j's test sample.\n\n")
    return text + table(["Task", "kv ratio per block", "kv ratio max", "feature drift per old task", "drift mean"],
                        rows, "llrlr")


def _memory(data: dict[str, Any]) -> str:
    dims = data["old_space_dim"]
    if not dims or not any(dims):
        return "No memory yet (no task learned, or a method without memory such as SeqLoRA)."
    blocks = max(len(d) for d in dims)
    kinds = data.get("memory_kind") or []
    rows = []
    for t, row in enumerate(dims):
        kind = _at(kinds, t) or []
        cells = [f"{v}" + (" (r)" if _at(kind, b) == "retain" else "") for b, v in enumerate(row)]
        rows.append([f"{t + 1}", *cells, *[""] * (blocks - len(row))])
    d = data.get("feature_dim")
    text = (f"Old-space dimension k of each block's DualGPM memory after each task (of d = {d if d else '?'}; "
            "\"(r)\" = stored as the complement, retain kind).\n\n")
    return text + table(["Task", *[f"B{b + 1}" for b in range(blocks)]], rows)


def _times(data: dict[str, Any]) -> str:
    rows_in = data["seconds"]
    if not rows_in:
        return "No task learned yet."
    cols = [("statistics", "statistics"), ("training", "training"), ("memory update", "memory_update"),
            ("alignment", "alignment"), ("evaluation", "evaluation"), ("total", "total"),
            ("of which reading images", "data_wait")]
    rows = [[f"{r['task']}", *[num(r.get(k), ".2f") for _, k in cols],
             num(None if r.get("inflora_extra_share") is None else 100 * r["inflora_extra_share"], ".1f", " %")]
            for r in rows_in]
    text = ("Seconds per phase (alignment only with `--align ca`); \"of which reading images\" is the part of the "
            "total spent waiting for batches (decoding, augmenting; less with `--workers`). InfLoRA extra = statistics + memory update "
            "(the two statistics passes and the SVDs) as a share of the task.\n\n")
    return text + table(["Task", *[f"{c} s" for c, _ in cols], "InfLoRA extra"], rows)


def _format_rows(section: dict[str, Any]) -> list[list[str]]:
    rows = []
    for r in section["formats"]:
        lat = r.get("latency") or {}
        rows.append([f"`{r['format']}`", f"{STATUS_GLYPH.get(r['status'], '?')} {STATUS_WORDS.get(r['status'], r['status'])}",
                     num(r["size_mb"], ".3f"), num(r["top1"], ".2f"), num(r["delta_pp"], "+.2f"),
                     num(r["top1_agreement_pct"], ".2f", " %"), num(r["max_abs_logit_diff"], ".2e"),
                     num(lat.get("p50_ms"), ".3f"), num(lat.get("p95_ms"), ".3f"), num(lat.get("images_per_s"), ".0f")])
    return rows


def _latency_note(section: dict[str, Any]) -> str:
    """Which latency numbers came from the exporter and which were measured by the report."""
    by_source: dict[str, list[str]] = {}
    for r in section["formats"]:
        by_source.setdefault(r.get("latency_source") or "none", []).append(f"`{r['format']}`")
    parts = []
    if "manifest" in by_source:
        parts.append(f"{', '.join(by_source['manifest'])}: from the manifest (measured by the exporter)")
    if "measured" in by_source:
        parts.append(f"{', '.join(by_source['measured'])}: measured by `edgecl report` with onnxruntime on the CPU "
                     f"(`edgecl_runtime` ort backend), golden inputs, batch 1, {section.get('latency_iters')} runs")
    return "Latency " + "; ".join(parts) + "." if parts else "Latency: not available."


def _exports(data: dict[str, Any]) -> str:
    if not data["exports"]:
        return "No task learned yet."
    out = []
    header = ["Format", "Status", "Size MB", "Top-1", "Δ vs PyTorch (pp)", "top-1 agreement", "max |Δlogit|",
              "p50 ms", "p95 ms", "images/s"]
    for sec in data["exports"]:
        out.append(f"### Task {sec['task']}")
        if sec["state"] != "present":
            out.append(f"⚠️ {sec['detail']}")
            continue
        py = sec.get("pytorch") or {}
        out.append(f"PyTorch top-1 {num(py.get('accuracy'), '.2f')} % on {num(py.get('n_test'), 'd')} test images "
                   f"of the seen tasks. {summarise_statuses(sec['formats'])}" + _deepstream(sec.get("deepstream")))
        out.append(table(header, _format_rows(sec), "llrrrrrrrr"))
        notes = [f"- `{r['format']}`: {r['note']}" for r in sec["formats"] if r.get("note")]
        notes += [f"- {n}" for n in sec.get("notes", [])]
        out.append(_latency_note(sec) + ("\n\n" + "\n".join(notes) if notes else ""))
        out += [_update_line(u) for u in sec.get("updates", [])]
    legend = "Status: ✅ passed the gate, ❎ exported but the gate failed, ❌ export failed.\n\n"
    return legend + "\n\n".join(out)


def _update_line(u: dict[str, Any]) -> str:
    """One over-the-air update: its size against the bundle, and each ONNX file's share of its file."""
    if "error" in u:
        return f"Update {u['folder']}: {u['error']}."
    pct = lambda a, b: f"{100 * a / b:.1f} %" if b else "?"  # noqa: E731
    files = ", ".join(f"`{n}` {pct(f['bytes'], f['file_bytes'])}" + (" (whole)" if f["whole"] else "")
                      for n, f in u["onnx"].items())
    return (f"Update from task {u['base_task']}: {u['bytes']:,} bytes, {pct(u['bytes'], u['bundle_bytes'])} of the "
            f"bundle{', signed' if u['signed'] else ''}; per file: {files}.")


def _deepstream(ds: dict[str, Any] | None) -> str:
    """The cost of DeepStream's preprocessing (plain resize, threshold), from the manifest."""
    if not isinstance(ds, dict):
        return ""
    if ds.get("accuracy_pct") is None:
        return " DeepStream (nvinfer) accuracy: not measured."
    return (f" DeepStream (nvinfer, {ds.get('preprocessing', '?')}): top-1 {num(ds['accuracy_pct'], '.2f')} %"
            f" ({num(ds.get('accuracy_delta_pp'), '+.2f')} pp vs PyTorch,"
            f" {num(ds.get('unlabelled_pct'), '.2f')} % left unlabelled).")


def _image(data: dict[str, Any], key: str, alt: str) -> str:
    name = (data.get("plots") or {}).get(key)
    return f"\n\n![{alt}]({name})" if name else ""


SECTIONS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("Tasks", _tasks),
    ("Run configuration", _config),
    ("Summary", _summary),
    ("Accuracy matrix", lambda d: _matrix(d) + _image(d, "accuracy_matrix", "accuracy matrix")),
    ("Accuracy on seen classes", lambda d: _seen(d) + _image(d, "seen_accuracy", "accuracy on seen classes")),
    ("Interference", _interference),
    ("DualGPM memory", lambda d: _memory(d) + _image(d, "memory", "old-space dimension per block")),
    ("Time per task", _times),
    ("Export bundles", _exports),
]


def render_markdown(data: dict[str, Any]) -> str:
    """The whole report as Markdown text."""
    parts = [f"# edgecl report: {data['name']}",
             f"Run `{data['run']}`, generated {data['generated']}. Metrics: {data['metrics_source']}."]
    warnings = list(data.get("warnings", [])) + [f"baseline: {w}" for w in (data.get("compare") or {}).get("warnings", [])]
    if warnings:
        parts.append("\n".join(f"> ⚠️ {w}" for w in warnings))
    view = (data.get("run_info") or {}).get("view")
    if view:  # what the model sees of the data, and what it loses (runs created before it was kept: none)
        parts.append("\n".join([f"What the model sees: {view['line']}."] + [f"> ⚠️ {n}" for n in view["notices"]]))
    for title, render in SECTIONS:
        parts.append(f"## {title}\n\n{render(data)}")
    return "\n\n".join(parts) + "\n"
