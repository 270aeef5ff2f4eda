"""InfLoRA training throughput of ViT-B/16 on a CUDA GPU (random init, 224 px, synthetic data).

    python benchmarks/bench_cuda_train.py [--steps 300] [--batch 128] [--model vit_base_patch16_224]

Runs the real task path (statistics pass, designed branches, training with bf16 autocast, merge,
memory update) and prints images/s of the training phase, fp32 vs bf16 side by side. Exits 0
with a message on a machine without CUDA.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from edgecl.vit.classifier import IncrementalClassifier
from edgecl.inflora import SubspaceMemory
from edgecl.config import RunConfig
from edgecl.learning.learner import TaskData, Training, learn_task
from edgecl.vit.model import create_vit


def synthetic(batch: int, steps: int, classes: int, device: torch.device):
    gen = torch.Generator(device="cpu").manual_seed(0)
    data = [(torch.rand(batch, 3, 224, 224, generator=gen), torch.randint(0, classes, (batch,), generator=gen))
            for _ in range(min(steps, 8))]
    data = [(x.to(device), y.to(device)) for x, y in data]
    return lambda: [data[i % len(data)] for i in range(steps)]


def run(model: str, batch: int, steps: int, amp: str, device: torch.device) -> dict:
    torch.manual_seed(0)
    clf = IncrementalClassifier(create_vit(model, 0), [0.5] * 3, [0.5] * 3).to(device)
    memories = [SubspaceMemory.empty(clf.feature_dim) for _ in clf.vit.blocks]
    config = RunConfig(rank=10, epochs=1, lr=5e-4, tasks=10)
    stats = synthetic(batch, 4, 10, device)
    train = synthetic(batch, steps, 10, device)
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = learn_task(clf, memories, TaskData(0, 10, stats, lambda e: train()), config, Training(device, amp))
    torch.cuda.synchronize()
    total = time.perf_counter() - start
    return {"amp": amp, "train_s": out.seconds["training"], "images_per_s": steps * batch / out.seconds["training"],
            "total_s": total, "loss": out.losses[-1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="vit_base_patch16_224")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU here: this benchmark needs one (nothing measured)")
        sys.exit(0)
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"{torch.cuda.get_device_name()}  torch {torch.__version__}  {args.model} batch {args.batch} x {args.steps} steps")
    rows = [run(args.model, args.batch, args.steps, amp, device) for amp in ("none", "bf16")]
    print(f"{'autocast':>9} {'train s':>9} {'images/s':>10} {'last loss':>10}")
    for r in rows:
        print(f"{r['amp']:>9} {r['train_s']:9.1f} {r['images_per_s']:10.0f} {r['loss']:10.3f}")
    print(f"bf16 / fp32 throughput: {rows[1]['images_per_s'] / rows[0]['images_per_s']:.2f}x")


if __name__ == "__main__":
    main()
