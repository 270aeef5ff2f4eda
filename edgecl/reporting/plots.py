"""The PNG plots of ``edgecl report``: accuracy-matrix heatmap, seen-class accuracy curve, memory growth.

Each plot is a function ``data -> PNG bytes`` over the report data (:func:`edgecl.reporting.collect.collect_report`),
drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no global state, no
display needed). Font sizes and figure sizes scale with the number of tasks and blocks so labels
stay readable and never overlap from 1 task to 20; an empty run gets a labelled empty plot.
"""
from __future__ import annotations

import io
from typing import Any, Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 120


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _task_ticks(ax, n: int, axis: str = "x", most: int = 12) -> None:
    """Integer task ticks 1..n, thinned so at most about ``most`` labels show."""
    step = max(1, int(np.ceil(n / most)))
    ticks = list(range(1, n + 1, step))
    (ax.set_xticks if axis == "x" else ax.set_yticks)(ticks)


def accuracy_matrix_png(data: dict[str, Any]) -> bytes:
    """Lower-triangular heatmap: row i = after task i, column j = accuracy on task j, each cell annotated."""
    matrix = data["accuracy_matrix"]
    n = len(matrix)
    side = min(max(4.8, 0.55 * n + 2.6), 14.0)
    fig = Figure(figsize=(side + 1.0, side))
    ax = fig.add_subplot()
    ax.set_title(f"Accuracy matrix (%): {data['name']}", fontsize=12)
    if n == 0:
        _empty(ax, "no task learned yet")
        return _png(fig)
    grid = np.full((n, n), np.nan)
    for i, row in enumerate(matrix):
        grid[i, : len(row)] = row
    cmap = _cmap("viridis").with_extremes(bad="0.93")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=100,
                      extent=(0.5, n + 0.5, n + 0.5, 0.5))
    cell_pt = side * 72 * 0.8 / n  # the axes take ~80 % of the figure side
    size = float(np.clip(0.26 * cell_pt, 6.0, 11.0))
    fmt = "{:.1f}" if n <= 6 else "{:.0f}"
    for i in range(n):
        for j in range(n):
            if not np.isnan(grid[i, j]):
                ax.text(j + 1, i + 1, fmt.format(grid[i, j]), ha="center", va="center", fontsize=size,
                        color="black" if grid[i, j] > 60 else "white")
    _task_ticks(ax, n, "x", most=25)
    _task_ticks(ax, n, "y", most=25)
    ax.set_xlabel("evaluated on task")
    ax.set_ylabel("after learning task")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="accuracy (%)")
    return _png(fig)


def _cmap(name: str):
    from matplotlib import colormaps

    return colormaps[name].copy()


def seen_accuracy_png(data: dict[str, Any]) -> bytes:
    """Accuracy on all classes seen so far after each task, with the baseline run's curve if given."""
    fig = Figure(figsize=(7.0, 4.4))
    ax = fig.add_subplot()
    ax.set_title("Accuracy on all seen classes after each task", fontsize=12)
    curves = [(f"{data['config'].get('method', 'this run')} ({data['name']})", data["seen_accuracy"], "-", "o")]
    cmp = data.get("compare")
    if cmp:
        curves.append((f"{cmp['method']} baseline ({cmp['name']})", cmp["seen_accuracy"], "--", "s"))
    n = max(len(c[1]) for c in curves)
    if n == 0:
        _empty(ax, "no task learned yet")
        return _png(fig)
    for label, values, style, marker in curves:
        xs = [t + 1 for t, v in enumerate(values) if v is not None]
        ys = [v for v in values if v is not None]
        if not ys:
            continue
        line, = ax.plot(xs, ys, style, marker=marker, label=label)
        ax.annotate(f"{ys[-1]:.1f}", (xs[-1], ys[-1]), textcoords="offset points", xytext=(6, 0),
                    va="center", fontsize=9, color=line.get_color())
    ax.set_xlim(0.6, n + 0.6 + 0.06 * n)
    ax.set_ylim(0, 105)
    _task_ticks(ax, n)
    ax.set_xlabel("after learning task")
    ax.set_ylabel("accuracy on seen classes (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=9, framealpha=0.9)
    return _png(fig)


def memory_png(data: dict[str, Any]) -> bytes:
    """Old-space dimension k of every block's DualGPM memory after each task (d as a dashed line)."""
    dims = data["old_space_dim"]
    blocks = max((len(row) for row in dims), default=0)
    fig = Figure(figsize=(7.6 if blocks > 6 else 7.0, 4.4))
    ax = fig.add_subplot()
    ax.set_title("DualGPM memory: old-space dimension per block", fontsize=12)
    if not dims or blocks == 0 or not any(any(row) for row in dims):
        _empty(ax, "no memory yet (no task learned, or no memory for this method)")
        return _png(fig)
    n = len(dims)
    colors = _cmap("viridis")(np.linspace(0.0, 0.9, blocks))
    markers = "osD^vP*Xhp<>"  # equal curves of different blocks stay distinguishable
    for b in range(blocks):
        xs = [t + 1 for t, row in enumerate(dims) if b < len(row)]
        ys = [row[b] for row in dims if b < len(row)]
        ax.plot(xs, ys, "-", marker=markers[b % len(markers)], markersize=5, linewidth=1.2, color=colors[b],
                fillstyle="none", label=f"B{b + 1}")
    d = data.get("feature_dim")
    top = max(max(row) for row in dims if row)
    if d:
        ax.axhline(d, color="0.3", linestyle="--", linewidth=1)
        ax.annotate(f"d = {d}", (0.01, d), xycoords=("axes fraction", "data"), textcoords="offset points",
                    xytext=(0, -12), fontsize=9, color="0.3")
        top = d
    ax.set_ylim(0, top * 1.08 + 1)
    ax.set_xlim(0.6, n + 0.4)
    _task_ticks(ax, n)
    ax.set_xlabel("after learning task")
    ax.set_ylabel("old-space dimension k")
    ax.grid(alpha=0.3)
    ncol = 1 if blocks <= 12 else 2
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, ncol=ncol, title="block", title_fontsize=8)
    return _png(fig)


PLOTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "accuracy_matrix": accuracy_matrix_png,
    "seen_accuracy": seen_accuracy_png,
    "memory": memory_png,
}
