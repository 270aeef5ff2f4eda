"""edgecl's training step vs a bare timm training loop, and InfLoRA's extra phases as a share of a task.

    python benchmarks/bench_train.py                      # step timing + a 2-task run of the default stream
    python benchmarks/bench_train.py --run models/default # phases from a finished run's metrics.json

1. One optimiser step on the same model and batch, interleaved:
   - edgecl: frozen backbone, rank-r ``Adapter`` hooks on K/V, a new linear head, Adam over the
     branches and the head, loss on ``head(features(x))`` (as in ``edgecl.learner._train``);
   - bare, all weights trained: plain timm forward/backward + Adam over every parameter. It does
     *more* work (weight gradients and Adam updates for every layer), so a ratio above 1 is expected;
   - bare, frozen backbone (only the head trains): autograd stops at the head, no backward through
     the blocks at all, so it is a lower bound that no adapter method can reach.
   ratio = bare time / edgecl time (higher is better for edgecl; target >= 0.9 vs the full loop).
2. Share of a task spent in InfLoRA's extra phases = (statistics + memory_update) / total, where
   statistics = statistics pass + branch design (SVD) and memory_update = second statistics pass +
   DualGPM update (SVDs); also extrapolated to the official 20 epochs (training time scales with
   epochs, the extra phases do not). Target <= 10 %.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
from torch import nn

import edgecl
from edgecl.vit.classifier import IncrementalClassifier
from edgecl.inflora import Adapter
from edgecl.vit.model import create_vit
from timing import ASSETS, default_arch, interleaved, med_ms, median_ratio, print_table, ratio_spread, set_threads

MEAN, STD = 0.5, 0.5


def edgecl_step(name: str, kwargs: dict, rank: int, x: torch.Tensor, y: torch.Tensor):
    torch.manual_seed(0)
    clf = IncrementalClassifier(create_vit(name, 2, kwargs), [MEAN] * x.shape[1], [STD] * x.shape[1])
    for p in clf.parameters():
        p.requires_grad_(False)
    dim = clf.feature_dim
    designs = [torch.linalg.qr(torch.randn(dim, rank))[0].T.contiguous() for _ in clf.vit.blocks]
    adapter = Adapter(clf.vit, rank, designs)
    head = clf.add_head(2)
    opt = torch.optim.Adam(adapter.trainable_parameters() + list(head.parameters()), lr=5e-4)
    clf.eval()

    def step():
        loss = nn.functional.cross_entropy(head(clf.features(x)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def bare_step(name: str, kwargs: dict, x: torch.Tensor, y: torch.Tensor, frozen: bool):
    torch.manual_seed(0)
    vit = create_vit(name, 2, kwargs).eval()
    if frozen:
        for p in vit.parameters():
            p.requires_grad_(False)
        vit.head.requires_grad_(True)
    opt = torch.optim.Adam([p for p in vit.parameters() if p.requires_grad], lr=5e-4)

    def step():
        loss = nn.functional.cross_entropy(vit((x - MEAN) / STD), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def step_table(name: str, kwargs: dict, batch: int, rank: int, reps: int) -> list[list[str]]:
    size, chans = kwargs.get("img_size", 224), kwargs.get("in_chans", 3)
    x, y = torch.rand(batch, chans, size, size), torch.randint(0, 2, (batch,))
    cases = {"edgecl (hooks + frozen backbone + head)": edgecl_step(name, kwargs, rank, x, y),
             "bare timm, all weights trained": bare_step(name, kwargs, x, y, frozen=False),
             "bare timm, frozen backbone (head only)": bare_step(name, kwargs, x, y, frozen=True)}
    times = interleaved(cases, reps=reps, inner=2, warmup=2)
    ref = next(iter(cases))
    return [[k, f"{med_ms(t):.1f}", f"{median_ratio(times, k, ref):.2f}", ratio_spread(times, k, ref)]
            for k, t in times.items()]


def tiny_run(root: Path, epochs: int | None, threads: int) -> Path:
    """Tasks 1-2 of the bundled default stream (bundled backbone when shipped, else random init)."""
    name, kwargs, _ = default_arch()
    weights = "bundled" if (ASSETS / "backbone.safetensors").is_file() else "none"
    options = {k: v for k, v in dict(dataset="default", weights=weights, epochs=epochs, tasks=5).items() if v is not None}
    if weights == "none":
        options.update(model=name, model_kwargs=kwargs)
    run = root / "run"
    for task in (1, 2):
        edgecl.learn(run, task=task, device="cpu", threads=threads, export=False, **options)
    return run


def phase_table(run: Path, official_epochs: int = 20) -> tuple[list[list[str]], int]:
    metrics = json.loads((run / "metrics.json").read_text())
    epochs = json.loads((run / "run.json").read_text())["config"]["epochs"]
    rows = []
    for s in metrics["seconds"]:
        phases = {k: v for k, v in s.items() if k != "task"}
        total = sum(phases.values())
        extra = phases.get("statistics", 0.0) + phases.get("memory_update", 0.0)
        long_total = total - phases.get("training", 0.0) + phases.get("training", 0.0) * official_epochs / epochs
        rows.append([str(s["task"]), f"{phases.get('statistics', 0):.2f}", f"{phases.get('training', 0):.2f}",
                     f"{phases.get('memory_update', 0):.2f}", f"{phases.get('alignment', 0):.2f}",
                     f"{phases.get('evaluation', 0):.2f}", f"{total:.2f}", f"{100 * extra / total:.1f} %",
                     f"{100 * extra / long_total:.1f} %"])
    return rows, epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="a finished run to read the phase times from")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the tiny run (default: the preset)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    name, kwargs, source = default_arch()
    print_table(f"Training step, batch {args.batch}, rank {args.rank}, {args.threads} thread(s), median of "
                f"{args.reps} interleaved reps; default model ({source})",
                ["loop", "ms/step", "ratio = bare / edgecl", "IQR"],
                step_table(name, kwargs, args.batch, args.rank, args.reps))
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or tiny_run(Path(tmp), args.epochs, args.threads)
        rows, epochs = phase_table(run)
    print_table(f"InfLoRA extra phases (statistics + memory_update) per task of {run if args.run else 'a 2-task run'}"
                f" ({epochs} epochs)",
                ["task", "statistics s", "training s", "memory update s", "alignment s", "evaluation s", "total s",
                 f"extra share @{epochs} ep", "extra share @20 ep"], rows)
    shares = [float(r[7].rstrip(" %")) for r in rows]
    print(f"median extra share: {statistics.median(shares):.1f} % at {epochs} epochs (target <= 10 %)")


if __name__ == "__main__":
    main()
