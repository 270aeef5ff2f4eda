"""How InfLoRA's extra work scales with model width d and the number of tasks (predicts ViT-B/16).

    python benchmarks/bench_scaling.py                 # d = 192, 384, 768; 10 tasks
    python benchmarks/bench_scaling.py --tasks 20 --threads 2

1. Statistics pass: forward with ``edgecl.inflora.recording`` hooks (C += X^T X in float64 at every
   block's qkv input) vs a plain forward, 224 px / patch 16 (197 tokens), 2 blocks of width d; the
   cost is reported per block and per image, so it scales to any depth.
2. SVDs on d x d matrices: ``design_branch`` (one SVD of the projected second moment) and
   ``SubspaceMemory.update`` (one SVD, plus a complement SVD when the memory flips to its retain
   form) over a sequence of tasks whose second moments have a decaying spectrum, so the old space
   grows as in a real run. A power law t = a d^p is fitted to the median times (dense SVD: p ~ 3).
3. The prediction for ViT-B/16 at 224 px (d = 768, 12 blocks, 197 tokens): per training image of a
   task, two statistics passes; per task, 12 designs + 12 memory updates.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch

from edgecl.inflora import SubspaceMemory, design_branch, recording, threshold_for_task
from edgecl.vit.model import create_vit
from timing import interleaved, median_ratio, print_table, set_threads

WIDTHS = (192, 384, 768)
TOKENS = 197  # 224 px, patch 16, plus the class token


def stats_pass(d: int, batch: int, reps: int) -> dict[str, float]:
    """Per-block, per-image seconds of a plain forward and of a forward with statistics hooks."""
    kwargs = dict(embed_dim=d, depth=2, num_heads=d // 64)
    torch.manual_seed(0)
    plain, hooked = create_vit("vit_base_patch16_224", 0, kwargs).eval(), create_vit("vit_base_patch16_224", 0, kwargs).eval()
    x = torch.rand(batch, 3, 224, 224)
    with recording(hooked):  # hooks stay on for every timed call of ``hooked``
        def run(model):
            def call():
                with torch.no_grad():
                    model.forward_features(x)
            return call
        times = interleaved({"plain": run(plain), "recording": run(hooked)}, reps=reps)
    per = 1.0 / (2 * batch)
    return {"plain": statistics.median(times["plain"]) * per, "recording": statistics.median(times["recording"]) * per,
            "ratio": median_ratio(times, "recording", "plain")}


def task_moments(d: int, tasks: int, seed: int = 0) -> list[torch.Tensor]:
    """Second moments with spectrum exp(-i / (d / 16)) in a shared + a task-specific random basis."""
    gen = torch.Generator().manual_seed(seed)
    lam = torch.exp(-torch.arange(d, dtype=torch.float64) / (d / 16))
    def rotated() -> torch.Tensor:
        q, _ = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64, generator=gen))
        return q @ torch.diag(lam) @ q.T
    shared = rotated()
    return [0.5 * shared + 0.5 * rotated() for _ in range(tasks)]


def svd_costs(d: int, tasks: int, rank: int) -> list[dict[str, float]]:
    """Per task: seconds of design_branch and SubspaceMemory.update, and the old-space dimension after."""
    memory, rows = SubspaceMemory.empty(d), []
    for t, c in enumerate(task_moments(d, tasks)):
        start = time.perf_counter()
        design_branch(c, memory, rank)
        design = time.perf_counter() - start
        start = time.perf_counter()
        memory = memory.update(c, threshold_for_task(t, tasks, 0.95))
        rows.append({"design": design, "update": time.perf_counter() - start, "k": memory.old_space_dim,
                     "kind": memory.kind})
    return rows


def power_fit(ds: list[int], ts: list[float]) -> tuple[float, float]:
    """(a, p) of t = a d^p by least squares in log-log."""
    p, log_a = np.polyfit(np.log(ds), np.log(ts), 1)
    return float(math.exp(log_a)), float(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)

    passes = {d: stats_pass(d, args.batch, args.reps) for d in WIDTHS}
    print_table(f"1. Statistics pass per block and image ({TOKENS} tokens, batch {args.batch}, {args.threads} thread(s), "
                f"median of {args.reps} interleaved reps)",
                ["d", "plain ms", "with recording ms", "ratio"],
                [[str(d), f"{1e3 * p['plain']:.2f}", f"{1e3 * p['recording']:.2f}", f"{p['ratio']:.3f}"]
                 for d, p in passes.items()])

    costs = {d: svd_costs(d, args.tasks, args.rank) for d in WIDTHS}
    show = sorted({1, 2, args.tasks // 2, args.tasks})
    rows = []
    for d, per_task in costs.items():
        for t in show:
            r = per_task[t - 1]
            rows.append([str(d), str(t), f"{r['k']} ({r['kind']})", f"{1e3 * r['design']:.1f}", f"{1e3 * r['update']:.1f}"])
    print_table(f"2. SVD costs per block vs d and task (rank {args.rank}, lambda 0.95, {args.tasks} tasks)",
                ["d", "task", "old-space k after", "design_branch ms", "memory update ms"], rows)

    ds = list(WIDTHS)
    fits = {}
    for key in ("design", "update"):
        fits[key] = power_fit(ds, [statistics.median(r[key] for r in costs[d]) for d in ds])
    hook = power_fit(ds, [passes[d]["recording"] - passes[d]["plain"] for d in ds])
    fit_rows = [[name, f"{a:.3g}", f"{p:.2f}", f"{1e3 * a * 768 ** p:.1f}", f"{1e3 * a * 1024 ** p:.1f}"]
                for name, (a, p) in (("design_branch", fits["design"]), ("memory update", fits["update"]),
                                     ("hook overhead / block / image", hook))]
    print_table("3. Fitted t = a d^p (seconds), median over tasks; extrapolated per block",
                ["cost", "a", "p", "d=768 ms", "d=1024 ms"], fit_rows)

    b = passes[768]
    per_image = 12 * b["recording"]
    svd_task = 12 * (fits["design"][0] * 768 ** fits["design"][1] + fits["update"][0] * 768 ** fits["update"][1])
    print(f"\nViT-B/16 @224 (d 768, 12 blocks, {TOKENS} tokens), this machine, {args.threads} thread(s):")
    print(f"  statistics pass: {1e3 * per_image:.1f} ms/image ({1e3 * 12 * b['plain']:.1f} ms plain forward, "
          f"hooks x{b['ratio']:.2f}); two passes per task")
    print(f"  SVDs per task: {svd_task:.2f} s (12 designs + 12 memory updates), independent of the data size")
    print(f"  extra time per task ~= {2 * per_image:.3f} s x N_train_images + {svd_task:.2f} s "
          f"(e.g. {2 * per_image * 2400 + svd_task:.0f} s for 2400 images, an ImageNet-R 10-task split)")
    step = 3 * 12 * b["plain"]  # assumption: a training step costs ~3 plain forwards (bench_train measures it)
    share = (2 * per_image) / (2 * per_image + 20 * step)
    print(f"  as a share of a 20-epoch task (assuming a training step ~ 3 plain forwards): ~{100 * share:.1f} %")


if __name__ == "__main__":
    main()
