"""Check a paper protocol against the published run before spending days on all of it.

    python benchmarks/paper_check.py --config configs/imagenet-r-10.yaml            # task 1
    python benchmarks/paper_check.py --config configs/cifar100-10.yaml --tasks 3 --device cuda

Learns the protocol's first ``--tasks`` tasks into ``--run`` (default ``models/check-<config>``;
tasks already there are kept, so a later call with a larger ``--tasks`` continues), then prints

1. the old-space dimension of every block's memory after each task that the official seed-0 log
   reports (task 1 and the last task), next to those numbers: the sigma^4 energy rule, the threshold
   schedule and the statistics pass decide them, so they should agree closely (a few directions
   per block; data order and augmentation differ), and a large gap points at the inputs (the
   normalisation, the resolution, the weights) before any accuracy does;
2. the A_T so far (accuracy on every class seen) next to the official seed-0 curve and the paper's
   final A_T / mean incremental accuracy.

The reference numbers are in ``benchmarks/paper_reference.py``. Needs the data under the config's
``data_root`` and the ImageNet-21k weights file it names; without them it stops with one line
(exit 1) before creating anything.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from paper_reference import PAPER_FINAL, SEED0_CURVE, SEED0_DIMS  # noqa: E402

import edgecl  # noqa: E402
from edgecl.config import read_yaml  # noqa: E402
from edgecl.errors import EdgeclError  # noqa: E402
from edgecl.run.store import task_dirname  # noqa: E402


class CheckFailed(Exception):
    """One line for the user, exit 1."""


def check_inputs(values: dict, config: Path) -> None:
    """The data folder and the weights file the config names exist (one line each if not)."""
    weights = values.get("weights", "bundled")
    if weights not in ("bundled", "none", "hub") and not Path(weights).expanduser().is_file():
        raise CheckFailed(f"weights file {weights} (from {config}) not found: save timm's "
                          "vit_base_patch16_224.augreg_in21k weights there as .safetensors, or pass --weights FILE")
    root = values.get("data_root")
    if root is not None and not Path(root).expanduser().is_dir():
        raise CheckFailed(f"data folder {root} (from {config}) not found: put the data set there "
                          "(see docs/DATA.md), or pass --data-root DIR")


def learn_first_tasks(run: Path, config: Path, tasks: int, overrides: dict, device: str) -> int:
    """Learn tasks 1..``tasks`` (those not yet done); returns how many are done."""
    done = len(sorted(run.glob("task-[0-9][0-9]"))) if run.is_dir() else 0
    for task in range(done + 1, tasks + 1):
        edgecl.learn(run, task=task, config_file=config, export=False, device=device, **overrides)
    return max(done, tasks)


def task_metrics(run: Path, task: int) -> dict:
    return json.loads((run / task_dirname(task) / "metrics.json").read_text())


def dims_report(name: str, run: Path, done: int) -> list[str]:
    """Per-block old-space dims, ours | official seed 0, after each task the log reports."""
    lines = []
    for task, official in sorted(SEED0_DIMS.get(name, {}).items()):
        if task > done:
            lines.append(f"memory dims after task {task}: not reached (learn {task} tasks to compare)")
            continue
        ours = task_metrics(run, task)["old_space_dim"]
        lines.append(f"memory dims after task {task} (block: edgecl | official seed 0):")
        lines += [f"  block {b + 1:2d}: {o:4d} | {r:4d}  ({o - r:+d})" for b, (o, r) in enumerate(zip(ours, official))]
    if name not in SEED0_DIMS:
        lines.append(f"memory dims: no official seed-0 dims for {name}; ours after task 1: "
                     f"{task_metrics(run, 1)['old_space_dim']}")
    return lines


def accuracy_report(name: str, run: Path, done: int) -> list[str]:
    """A_T after each learned task next to the official seed-0 curve, then the paper's final numbers."""
    curve = SEED0_CURVE.get(name, [])
    lines = ["A_T so far (task: edgecl | official seed 0):"]
    for task in range(1, done + 1):
        ours = task_metrics(run, task)["seen_accuracy"]
        ref = f"{curve[task - 1]:6.2f}" if task <= len(curve) else "     -"
        lines.append(f"  task {task:2d}: {ours:6.2f} | {ref}")
    final = PAPER_FINAL.get(name)
    lines.append(f"paper, after the last task: A_T {final[0]:.2f}, mean incremental {final[1]:.2f} (seeds 0-4)"
                 if final else f"paper: no published number for {name} in benchmarks/paper_reference.py")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="a paper protocol, e.g. configs/imagenet-r-10.yaml")
    parser.add_argument("--tasks", type=int, default=1, help="how many of the first tasks to learn (default 1)")
    parser.add_argument("--run", type=Path, default=None, help="run folder (default models/check-<config name>)")
    parser.add_argument("--weights", default=None, help="weights file instead of the config's")
    parser.add_argument("--data-root", default=None, help="data folder instead of the config's")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = parser.parse_args(argv)
    name = args.config.stem
    run = args.run or Path("models") / f"check-{name}"
    overrides = {k: v for k, v in (("weights", args.weights), ("data_root", args.data_root)) if v is not None}
    try:
        values = {**read_yaml(args.config), **overrides}
        if not 1 <= args.tasks <= int(values.get("tasks", 1)):
            raise CheckFailed(f"--tasks must be in [1, {values.get('tasks')}] for {name}, got {args.tasks}")
        check_inputs(values, args.config)
        done = learn_first_tasks(run, args.config, args.tasks, overrides, args.device)
    except (CheckFailed, EdgeclError) as exc:
        print(f"paper_check: {exc}", file=sys.stderr)
        return 1
    print("\n".join([f"{name}: {done} task(s) in {run}", *dims_report(name, run, done),
                     *accuracy_report(name, run, done)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
