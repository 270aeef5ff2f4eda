"""Shared helpers of the benchmark scripts: interleaved timing, median ratios, the default architecture.

Interleaving: every repetition times each case once (``inner`` calls, averaged), in an order rotated
by one case per repetition, so slow drift of a shared machine (other jobs, frequency changes) hits
all cases alike. Ratios are taken *within* a repetition and the median over repetitions is reported,
which cancels drift that is slower than one repetition.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

ASSETS = Path(__file__).resolve().parents[1] / "edgecl" / "assets"
FALLBACK_ARCH = ("vit_tiny_patch16_224",
                 {"img_size": 28, "patch_size": 7, "in_chans": 1, "embed_dim": 128, "depth": 6, "num_heads": 4})


def default_arch() -> tuple[str, dict[str, Any], str]:
    """(timm name, kwargs, where from): the bundled backbone's sidecar when present, else the documented default."""
    sidecar = ASSETS / "backbone.json"
    if sidecar.is_file():
        info = json.loads(sidecar.read_text())
        return info["model_name"], dict(info["model_kwargs"]), "edgecl/assets/backbone.json"
    return FALLBACK_ARCH[0], dict(FALLBACK_ARCH[1]), "fallback (no edgecl/assets/backbone.json)"


def interleaved(cases: dict[str, Callable[[], Any]], reps: int, inner: int = 1,
                warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of every case, one value per repetition, cases interleaved and rotated."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            for _ in range(inner):
                cases[name]()
            times[name].append((time.perf_counter() - start) / inner)
    return times


def median_ratio(times: dict[str, list[float]], num: str, den: str) -> float:
    """Median over repetitions of times[num] / times[den] (same-repetition pairs)."""
    return statistics.median(a / b for a, b in zip(times[num], times[den]))


def ratio_spread(times: dict[str, list[float]], num: str, den: str) -> str:
    """Interquartile range of the per-repetition ratios, e.g. ``0.98-1.03`` (how noisy the machine was)."""
    ratios = sorted(a / b for a, b in zip(times[num], times[den]))
    if len(ratios) < 4:
        return "-"
    q = statistics.quantiles(ratios, n=4)
    return f"{q[0]:.2f}-{q[2]:.2f}"


def med_ms(values: list[float]) -> float:
    return 1e3 * statistics.median(values)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A plain fixed-width table (readable in a terminal and when pasted into Markdown)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join(f"{h:>{w}}" for h, w in zip(header, widths))
    print(f"\n{title}\n{line}\n{'-' * len(line)}")
    for row in rows:
        print("  ".join(f"{str(c):>{w}}" for c, w in zip(row, widths)))


def set_threads(n: int) -> None:
    torch.set_num_threads(n)
