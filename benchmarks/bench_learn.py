"""InfLoRA vs SeqLoRA (each with and without classifier alignment) on a real 5-task stream, and
InfLoRA's extra work per task measured side by side with a plain inference pass.

    python benchmarks/bench_learn.py                          # bundled Split-MNIST, shipped backbone
    python benchmarks/bench_learn.py --dataset fashion-mnist  # second real stream
    python benchmarks/bench_learn.py --overhead-only          # learn task 1 only, then the overhead table
    python benchmarks/bench_learn.py --no-export              # skip the exports and the gate table
    python benchmarks/bench_learn.py --runs seqlora,seqlora+ca  # a subset of the four runs (resumable)

1. One table from one run: A_T, mean incremental accuracy, forgetting, BWT, max ||dW P_old||/||dW||,
   mean old-feature drift, for four learn runs (``edgecl learn --all`` with each method/alignment).
   Each run exports every task in every format of the bundle contract this machine supports (FP32,
   FP16, INT8, ...; TensorRT FP16 only where ``tensorrt`` is installed), and a second table (``benchmarks/gate_table.py``)
   prints every parity gate from the manifests; the script exits 1 when any gate failed.
2. Overhead (:func:`overhead`): on the model as stored after task 1 (loaded once from the InfLoRA
   run), over task 2's training data, these cases are timed in one loop, in an order rotated every
   repetition, and the median of the per-repetition ratios is reported:
   - plain pass: ``forward_features`` under no_grad, no hooks, over the same batches the learner's
     statistics pass iterates (same batch size and augmentation; batch making included in both);
   - statistics pass: ``edgecl.learning.learner.second_moments`` (the real function, hooks recording x x^T);
   - SVDs + memory update: ``design_branch`` and ``SubspaceMemory.update`` for every hooked block, on
     the second moments of one statistics pass (the real functions, the task's real threshold);
   - one training epoch (forward + backward + Adam on the K/V branches and the new head, frozen
     backbone, on a copy of the model), to express the extra work as a share of a task.
   InfLoRA's extra work per task (what SeqLoRA does not do) = 2 statistics passes (before training,
   and after it for the memory) + the SVDs/memory update. Not counted: the merge and head fold (both
   methods do them), evaluation, classifier alignment, export.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from edgecl.inflora import Adapter, design_branch, threshold_for_task
import edgecl
from edgecl_runtime.contract import REQUESTS
from edgecl.data.run_data import open_data
from edgecl.learning.learner import second_moments
from edgecl.learning.step import load_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate_table import failure_lines, gate_rows, gate_summary, gate_table, tensorrt_available  # noqa: I001

console = Console(width=140)
RUNS = {"inflora": ("inflora", "none"), "inflora+ca": ("inflora", "ca"),  # run name: (method, align)
        "seqlora": ("seqlora", "none"), "seqlora+ca": ("seqlora", "ca")}


def learn_run(root: Path, name: str, options: dict, threads: int, task: int | None = None,
              export: bool = False) -> dict:
    """``edgecl learn --all`` (or ``--task N``) into ``root/name``; the run metrics + wall seconds and
    ``failed_exports`` (each task exported after it is learned when ``export``)."""
    run = root / name
    start = time.perf_counter()
    result = edgecl.learn(run, task=task, all_tasks=task is None, device="cpu", threads=threads, export=export,
                          **{k: v for k, v in options.items() if v is not None})
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["wall"] = time.perf_counter() - start
    metrics["failed_exports"] = list(result.failed_exports)
    return metrics


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


def overhead(run: Path, task: int, reps: int) -> dict[str, list[float]]:
    """Seconds per repetition of each case (see the module docstring), on the model stored after ``task - 1``."""
    opened = edgecl.open_run(run)
    config = opened.config
    data = open_data(opened)
    device = torch.device("cpu")
    clf, memories = load_state(opened, task, device)
    for p in clf.parameters():
        p.requires_grad_(False)
    clf.eval()
    idx = data.indices("train", task)
    seed = opened.seed(task)

    def stats_batches():  # exactly what edgecl.learning.step.learn_one hands the statistics passes
        return data.train_batches(idx, config.batch_size, augment=config.augment, shuffle=False, seed=seed, epoch=10_000)

    @torch.no_grad()
    def plain():
        clf.eval()
        for x, _ in stats_batches():
            clf.vit.forward_features(clf.normalize(x))

    def stats():
        return second_moments(clf=clf, batches=stats_batches(), num_blocks=config.blocks, device=device)

    moments = stats()
    eps = threshold_for_task(task_index=task - 1, num_tasks=config.tasks, lam=config.lam)

    def svds():
        designs = [design_branch(second_moment=c, memory=m, rank=config.rank) for c, m in zip(moments, memories)]
        updated = [m.update(second_moment=c, threshold=eps) for m, c in zip(memories, moments)]
        return designs, updated

    designs, _ = svds()
    trained = copy.deepcopy(clf)  # branches hooked here only: the other cases see the plain model
    adapter = Adapter(trained.vit, config.rank, designs, config.blocks)
    head = trained.add_head(len(data.tasks[task - 1]))
    optimiser = torch.optim.Adam(adapter.trainable_parameters() + list(head.parameters()), lr=config.lr)
    offset = trained.num_old_classes

    def epoch():  # as edgecl.learning.learner trains: backbone in eval mode, loss over the task's own logits
        trained.eval()
        for x, y in data.train_batches(idx, config.batch_size, augment=config.augment, shuffle=True, seed=seed, epoch=0):
            loss = nn.functional.cross_entropy(head(trained.features(x)), y - offset)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

    cases = {"plain pass": plain, "statistics pass": stats, "SVDs + memory update": svds, "training epoch": epoch}
    plain(), epoch()  # warm-up (stats and svds ran above)
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(reps):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - start)
    return times


def overhead_table(times: dict[str, list[float]], epochs: int, task: int, reps: int) -> Table:
    table = Table(title=f"InfLoRA's extra work per task vs one plain inference pass (task {task}'s training data, "
                        f"median of {reps} interleaved repetitions)")
    for col in ("case", "median s", "/ plain pass (median of per-rep ratios)"):
        table.add_column(col, justify="right")
    plain = times["plain pass"]

    def ratio(values: list[float]) -> float:
        return statistics.median(a / b for a, b in zip(values, plain))

    extra = [2 * s + v for s, v in zip(times["statistics pass"], times["SVDs + memory update"])]
    for name, values in [*times.items(), ("extra = 2 statistics passes + SVDs/memory", extra)]:
        table.add_row(name, f"{statistics.median(values):.3f}", f"{ratio(values):.3f}x")
    for e in sorted({epochs, 20}):
        share = statistics.median(x / (x + e * t) for x, t in zip(extra, times["training epoch"]))
        table.add_row(f"extra / (extra + {e} training epochs)", "", f"{100 * share:.1f} %")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="default")
    parser.add_argument("--weights", default="bundled")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--lam", type=float, default=None)
    parser.add_argument("--rank", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--reps", type=int, default=7, help="interleaved repetitions of the overhead cases")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    parser.add_argument("--skip-overhead", action="store_true", help="skip the overhead measurement")
    parser.add_argument("--overhead-only", action="store_true", help="learn InfLoRA task 1 only, then the overhead")
    parser.add_argument("--tasks", type=int, default=None, help="tasks in the stream (default: the dataset's)")
    parser.add_argument("--no-export", action="store_true", help="learn only: no exports, no gate table")
    parser.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of " + ", ".join(RUNS))
    args = parser.parse_args()
    chosen = args.runs.split(",")
    if set(chosen) - set(RUNS):
        parser.error(f"--runs: unknown {sorted(set(chosen) - set(RUNS))}, use {', '.join(RUNS)}")
    root = args.out or Path(tempfile.mkdtemp(prefix="edgecl-bench-"))
    base = dict(dataset=args.dataset, weights=args.weights, epochs=args.epochs, lam=args.lam, rank=args.rank,
                lr=args.lr, tasks=args.tasks)
    export = not args.no_export and not args.overhead_only
    if export:  # every format of the bundle contract this machine can produce (FP32 is always exported)
        base["export_formats"] = [r for r in REQUESTS if r != "trt" or tensorrt_available()]
    errors: list[str] = []
    if args.overhead_only:
        learn_run(root, "inflora", {**base, "method": "inflora", "align": "none"}, args.threads, task=1)
    else:
        rows, runs = {}, {}
        for name, (method, align) in RUNS.items():
            if name not in chosen:
                continue
            console.print(f"learning {name} ...")
            runs[name] = root / name
            try:
                rows[name] = learn_run(root, name, {**base, "method": method, "align": align}, args.threads,
                                       export=export)
            except Exception as exc:  # noqa: BLE001 - one failed run must not hide the others' tables
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                console.print(f"[red]{name} failed: {type(exc).__name__}: {exc}[/red]")
        console.print(results_table(rows))
        if export:
            gates = gate_rows(runs)
            console.print(gate_table(gates))
            passed, total = gate_summary(gates)
            errors += failure_lines(gates)
            console.print(f"{passed}/{total} gates passed"
                          + ("" if tensorrt_available() else "; TensorRT FP16: not available (tensorrt not installed)"))
    for line in errors:
        console.print(f"[red]failed: {line}[/red]")
    if not args.skip_overhead:
        torch.set_num_threads(args.threads)
        times = overhead(root / "inflora", task=2, reps=args.reps)
        console.print(overhead_table(times, edgecl.open_run(root / "inflora").config.epochs, 2, args.reps))
        console.print(f"{args.threads} thread(s); batch making (augmentation) included in the plain and statistics passes")
    console.print(f"runs kept in {root}")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
