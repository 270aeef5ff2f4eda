"""Classifier-alignment covariance modes: accuracy vs class-statistics storage, side by side.

    python benchmarks/bench_ca_cov.py                    # bundled Split-MNIST, default preset (InfLoRA + CA)
    python benchmarks/bench_ca_cov.py --threads 2 --out runs/ca-cov

``--align ca`` stores per class the mean and covariance of the final features and re-fits every head
on features sampled from them after each task (``edgecl.learning.align``). ``--ca-cov`` chooses how much of
the covariance is kept: ``full`` (d x d per class), ``shared`` (one pooled d x d for the run) or
``diag`` (d per class). This script learns the whole stream once per mode (``edgecl learn --all``,
no export, every other option the preset's) and prints, for each: A_T, mean incremental accuracy,
forgetting, and the class-statistics storage after the last task (``class_stats_bytes`` of the last
task's metrics: the bytes of every tensor in ``class_stats.safetensors``, means and counts included),
in MB = 1e6 bytes and KB = 1e3 bytes.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench_learn import learn_run
import edgecl
from timing import print_table

MODES = ("full", "shared", "diag")


def human_bytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="default")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None, help="default: the dataset preset's")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="edgecl-ca-cov-"))
    rows = []
    for mode in args.modes:
        print(f"learning --ca-cov {mode} ...", flush=True)
        options = dict(dataset=args.dataset, epochs=args.epochs, method="inflora", align="ca", ca_cov=mode)
        metrics = learn_run(root, mode, options, args.threads)
        store = edgecl.open_run(root / mode).store
        last = json.loads(store.verified_path(store.finished_tasks()[-1], "metrics.json").read_text())
        size = last["class_stats_bytes"]
        rows.append([mode, f"{metrics['final_accuracy']:.1f}", f"{metrics['average_incremental_accuracy']:.1f}",
                     f"{metrics['forgetting']:.1f}", str(size), human_bytes(size), f"{metrics['wall']:.0f}"])
    config = edgecl.open_run(root / args.modes[0]).config
    print_table(f"InfLoRA + CA on {config.dataset}, {config.tasks} tasks, {config.epochs} epochs, "
                f"feature dim {config.model_kwargs.get('embed_dim', '?')}, {args.threads} thread(s); "
                "class statistics stored after the last task",
                ["--ca-cov", "A_T %", "mean inc %", "forgetting pp", "stats bytes", "stats size", "wall s"], rows)
    print(f"runs kept in {root}")


if __name__ == "__main__":
    main()
