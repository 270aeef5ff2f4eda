"""Inference cost of the merged model vs a plain timm ViT, and vs keeping T unmerged branches.

    python benchmarks/bench_inference.py                  # default model (batch 1, 64) + vit_tiny 224 (batch 1)
    python benchmarks/bench_inference.py --reps 9 --threads 2

edgecl folds every task's branch into ``qkv.weight`` (``merge_adapter``), so the shipped model *is* a
plain timm ViT: the target ratio merged / plain is 1.00 +- 0.03. The official InfLoRA code keeps each
task's branch and adds ``U_t D_t x`` at every forward pass; that is emulated by leaving T
``edgecl.inflora.Adapter`` hooks attached (rank r each), for T = 1, 5, 10. Weights are random
(timing does not depend on them); branch weights are made non-zero so nothing is skipped.
"""
from __future__ import annotations

import argparse
import copy
import time

import torch
from torch import nn

from edgecl.inflora import Adapter, merge_adapter
from edgecl.vit.model import create_vit
from timing import default_arch, interleaved, med_ms, median_ratio, print_table, ratio_spread, set_threads

TASK_COUNTS = (1, 5, 10)


def random_adapter(model: nn.Module, rank: int) -> Adapter:
    adapter = Adapter(model, rank)
    with torch.no_grad():
        for branch in adapter.branches:
            branch.up_k.normal_(0, 0.01)
            branch.up_v.normal_(0, 0.01)
    return adapter


def variants(name: str, kwargs: dict, rank: int) -> dict[str, nn.Module]:
    """plain, a copy of it (A/A control: its ratio is the noise floor), merged (10 branches folded in),
    and unmerged with T hooked branches."""
    torch.manual_seed(0)
    plain = create_vit(name, 10, kwargs).eval()
    merged = copy.deepcopy(plain)
    for _ in range(10):
        merge_adapter(merged, random_adapter(merged, rank))
    models = {"plain timm": plain, "plain copy (A/A control)": copy.deepcopy(plain), "merged (10 tasks)": merged}
    for t in TASK_COUNTS:
        hooked = copy.deepcopy(plain)
        hooked._branches = [random_adapter(hooked, rank) for _ in range(t)]  # keep them alive, hooks attached
        models[f"unmerged T={t}"] = hooked
    return models


def _seconds(model: nn.Module, x: torch.Tensor) -> float:
    with torch.inference_mode():
        model(x)
        start = time.perf_counter()
        model(x)
        return time.perf_counter() - start


def bench(name: str, kwargs: dict, batch: int, rank: int, reps: int) -> list[list[str]]:
    models = variants(name, kwargs, rank)
    size = kwargs.get("img_size", 224)
    x = torch.rand(batch, kwargs.get("in_chans", 3), size, size)

    def call(model):
        def run():
            with torch.inference_mode():
                model(x)
        return run

    inner = max(1, round(0.04 / _seconds(models["plain timm"], x)))  # ~40 ms per timed chunk
    times = interleaved({k: call(m) for k, m in models.items()}, reps=reps, inner=inner)
    label = f"{name}@{size}" + (f" d{kwargs['embed_dim']}x{kwargs.get('depth')}" if "embed_dim" in kwargs else "")
    return [[label, str(batch), k, f"{med_ms(v):.2f}", f"{median_ratio(times, k, 'plain timm'):.3f}",
             ratio_spread(times, k, "plain timm")] for k, v in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    name, kwargs, source = default_arch()
    rows = bench(name, kwargs, 1, args.rank, args.reps) + bench(name, kwargs, 64, args.rank, args.reps)
    rows += bench("vit_tiny_patch16_224", {}, 1, args.rank, args.reps)
    print_table(f"Inference, torch eager CPU, {args.threads} thread(s), rank {args.rank}, median of {args.reps} "
                f"interleaved reps (default model: {source})",
                ["model", "batch", "variant", "ms/forward", "ratio vs plain", "ratio IQR"], rows)
    print("target: merged / plain = 1.00 +- 0.03 (the merged model is a plain timm ViT)")


if __name__ == "__main__":
    main()
