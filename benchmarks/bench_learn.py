"""InfLoRA vs SeqLoRA (each with and without classifier alignment) on a real 5-task stream.

    python benchmarks/bench_learn.py                          # bundled Split-MNIST, shipped backbone
    python benchmarks/bench_learn.py --dataset fashion-mnist  # second real stream

Prints one table side by side from one run: A_T, mean incremental accuracy, forgetting, BWT,
max ||dW P_old||/||dW||, mean old-feature drift. Then InfLoRA's extra work (two statistics passes,
SVDs, memory update) against one plain inference pass over the same task data, and its share of a
task at the default epochs and at 20 epochs.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from edgecl.learn_command import run_learn
from edgecl.session import load_state, open_data
from edgecl.store import RunStore

console = Console(width=140)


def learn_run(root: Path, name: str, options: dict, threads: int) -> dict:
    run = root / name
    start = time.perf_counter()
    run_learn(run, None, True, False, None, options, "cpu", threads, False, True)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["wall"] = time.perf_counter() - start
    return metrics


@torch.no_grad()
def plain_pass_seconds(run: Path, task: int) -> float:
    """One inference pass (features, no hooks) over the task's training data, same batch size."""
    store = RunStore(run)
    record = store.read_run()
    data = open_data(record)
    clf, _ = load_state(store, record, task, torch.device("cpu"))
    clf.eval()
    batches = data.batches("train", data.indices("train", task), store.config().batch_size,
                           augment=store.config().augment, shuffle=False, seed=0, epoch=10_000)
    start = time.perf_counter()
    for x, _ in batches:
        clf.vit.forward_features(clf.normalize(x))
    return time.perf_counter() - start


def results_table(rows: dict[str, dict]) -> Table:
    table = Table(title="5-task class-incremental stream, no rehearsal")
    for col in ("method", "A_T %", "mean inc %", "forgetting pp", "BWT pp", "max |dW P|/|dW|", "drift", "wall s"):
        table.add_column(col, justify="right")
    for name, m in rows.items():
        inter = max(i["kv_weight_ratio_max"] for i in m["interference"])
        drift = [i["feature_drift_mean"] for i in m["interference"][1:]] or [0.0]
        table.add_row(name, f"{m['final_accuracy']:.1f}", f"{m['average_incremental_accuracy']:.1f}",
                      f"{m['forgetting']:.1f}", f"{m['backward_transfer']:.1f}", f"{inter:.1e}",
                      f"{sum(drift) / len(drift):.3f}", f"{m['wall']:.0f}")
    return table


def overhead_table(run: Path, metrics: dict, epochs_long: dict) -> Table:
    table = Table(title="InfLoRA's extra work vs one plain inference pass (task 2)")
    for col in ("epochs", "extra s", "plain pass s", "extra / pass", "share of task"):
        table.add_column(col, justify="right")
    plain = plain_pass_seconds(run, 2)
    for label, secs in (("default", metrics["seconds"][1]), ("20", epochs_long)):
        extra = secs["statistics"] + secs["memory_update"]
        total = sum(v for k, v in secs.items() if k != "task")
        table.add_row(label, f"{extra:.2f}", f"{plain:.2f}", f"{extra / plain:.2f}x", f"{100 * extra / total:.1f} %")
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="default")
    parser.add_argument("--weights", default="bundled")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--lam", type=float, default=None)
    parser.add_argument("--rank", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    parser.add_argument("--skip-overhead", action="store_true", help="skip the 20-epoch overhead measurement")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="edgecl-bench-"))
    base = dict(dataset=args.dataset, weights=args.weights, epochs=args.epochs, lam=args.lam, rank=args.rank, lr=args.lr)
    rows = {}
    for method in ("inflora", "seqlora"):
        for align in ("none", "ca"):
            name = method + ("+ca" if align == "ca" else "")
            console.print(f"learning {name} ...")
            rows[name] = learn_run(root, name, {**base, "method": method, "align": align}, args.threads)
    console.print(results_table(rows))
    if args.skip_overhead:
        return
    long_run = root / "inflora-20ep"
    opts = {**base, "method": "inflora", "epochs": 20}
    run_learn(long_run, 1, False, False, None, opts, "cpu", args.threads, False, True)
    run_learn(long_run, 2, False, False, None, opts, "cpu", args.threads, False, True)
    long_secs = json.loads((long_run / "metrics.json").read_text())["seconds"][1]
    console.print(overhead_table(root / "inflora", rows["inflora"], long_secs))
    console.print(f"runs kept in {root}")


if __name__ == "__main__":
    main()
