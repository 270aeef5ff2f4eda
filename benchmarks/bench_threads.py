"""1 vs 2 torch threads on this class of machine (2 shared cores): which is faster, per workload.

    python benchmarks/bench_threads.py
    python benchmarks/bench_threads.py --reps 15

Workloads: the default model's training step (edgecl: Adapter hooks, frozen backbone, new head,
batch 64) and inference (batch 1 and 64); a tiny layer (one qkv Linear of the d = 32 test ViT on
64 x 17 tokens) and the tiny 2-block d = 32 ViT at batch 64. The thread count is switched
before every timed chunk and the two settings are interleaved, so both see the same load.
ratio = time with 2 threads / time with 1 (below 1: 2 threads are faster).
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import torch
from torch import nn

from bench_train import edgecl_step
from edgecl.vit.model import create_vit
from timing import default_arch, interleaved, med_ms, median_ratio, print_table, ratio_spread

TINY = dict(img_size=28, patch_size=7, in_chans=1, embed_dim=32, depth=2, num_heads=2)


def inference(model: nn.Module, x: torch.Tensor):
    def call():
        with torch.inference_mode():
            model(x)
    return call


def workloads() -> dict[str, Callable[[], None]]:
    name, kwargs, _ = default_arch()
    size, chans = kwargs.get("img_size", 224), kwargs.get("in_chans", 3)
    torch.manual_seed(0)
    model = create_vit(name, 10, kwargs).eval()
    tiny = create_vit("vit_tiny_patch16_224", 4, TINY).eval()
    layer = nn.Linear(32, 96)
    x64 = torch.rand(64, chans, size, size)
    return {
        "default model: training step b64": edgecl_step(name, kwargs, 10, x64, torch.randint(0, 2, (64,))),
        "default model: inference b1": inference(model, torch.rand(1, chans, size, size)),
        "default model: inference b64": inference(model, x64),
        "tiny layer: Linear 32->96, 64x17 tokens": inference(layer, torch.rand(64, 17, 32)),
        "tiny ViT d32x2: inference b64": inference(tiny, torch.rand(64, 1, 28, 28)),
    }


def with_threads(n: int, fn):
    def call():
        torch.set_num_threads(n)
        fn()
    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=11)
    args = parser.parse_args()
    rows = []
    for label, fn in workloads().items():
        torch.set_num_threads(1)
        start = time.perf_counter()
        fn()
        inner = max(1, round(0.05 / (time.perf_counter() - start)))  # ~50 ms per timed chunk
        times = interleaved({"1": with_threads(1, fn), "2": with_threads(2, fn)}, reps=args.reps, inner=inner)
        ratio = median_ratio(times, "2", "1")
        rows.append([label, f"{med_ms(times['1']):.3f}", f"{med_ms(times['2']):.3f}", f"{ratio:.2f}",
                     ratio_spread(times, "2", "1"), "2 threads" if ratio < 0.95 else "1 thread" if ratio > 1.05 else "same"])
    print_table(f"torch threads on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f}), median of {args.reps} interleaved reps "
                f"(ratio = 2 threads / 1 thread)",
                ["workload", "1 thread ms", "2 threads ms", "ratio", "IQR", "better"], rows)
    print("'same' = within 5 %; a loaded machine favours 1 thread (a second thread waits for a busy core)")


if __name__ == "__main__":
    main()
