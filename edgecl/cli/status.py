"""``edgecl status``: tasks done, the accuracy matrix so far, each task's bundle, and what is next.

The numbers shown come from each task's ``metrics.json``, checked against the task's record
(sha256) before they are shown; ``--verify`` also checks every other file of every finished task
and every bundle file against its manifest. The last line says which of the two was done.
"""
from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from edgecl.cli.console import DEFAULT_RUN, RunOpt, console, one_line_errors
from edgecl.learning.step import finished_run_metrics
from edgecl_runtime.atomic_io import read_json
from edgecl.run.bundles import BUNDLE, MISSING, export_state, leftovers, verify_bundle
from edgecl.updating import update_size
from edgecl.run.run import Run, open_run


@one_line_errors
def status(
    run: RunOpt = DEFAULT_RUN,
    verify: Annotated[bool, typer.Option("--verify", help="Check the sha256 of every task file and bundle file.")] = False,
) -> None:
    """Tasks done, metrics so far, bundles, and what is next."""
    opened = open_run(run)
    config = opened.config
    done = opened.finished_tasks()
    # everything is read (and checked) before the first line: a damaged file is one error line, nothing else
    metrics = finished_run_metrics(opened.store) if done else {}
    checked = checked_line(opened, done, verify) if done else ""
    console.print(f"run [bold]{run}[/]: {config.dataset}, {config.method}, model {config.model}, "
                  f"rank {config.rank}, {config.epochs} epochs" + (", bundles signed" if config.sign_key else ""))
    if done:
        print_metrics(metrics, len(done))
        print_bundles(opened, done)
    nxt = len(done) + 1
    stranded = opened.store.stranded_tasks()
    if stranded:
        console.print(f"tasks {', '.join(map(str, stranded))} are finished but task {nxt} has no record.json: "
                      f"restore {opened.store.task_dir(nxt) / 'record.json'} to keep them (learning task {nxt} "
                      "again refuses without --force, which discards them)", markup=False)
    console.print(f"tasks done: {len(done)}/{config.tasks}; " +
                  (f"next: `edgecl learn --run {run} --task {nxt}`" if nxt <= config.tasks else "all tasks learned"))
    if done:
        console.print(checked)


def print_metrics(metrics: dict[str, Any], n_done: int) -> None:
    """The accuracy matrix and summary (from every metrics.json, read through its checksum)."""
    table = Table(title="accuracy matrix (%)")
    table.add_column("after")
    for j in range(n_done):
        table.add_column(f"T{j + 1}", justify="right")
    for i, row in enumerate(metrics["accuracy_matrix"]):
        table.add_row(f"task {i + 1}", *[f"{a:.1f}" for a in row], *[""] * (n_done - len(row)))
    console.print(table)
    console.print(f"A_T {metrics['final_accuracy']:.2f}  mean incremental {metrics['average_incremental_accuracy']:.2f}"
                  f"  forgetting {metrics['forgetting']:.2f}  BWT {metrics['backward_transfer']:.2f}")


def print_bundles(run: Run, done: list[int]) -> None:
    """One word per task (bundle / export missing / not exported), and how to fill the gaps."""
    states = {t: export_state(run.store, t) for t in done}
    console.print("bundles: " + ", ".join(f"task {t} {s}" for t, s in states.items()))
    updates = [_update_line(run, t) for t in done if states[t] == BUNDLE]
    updates = [u for u in updates if u]
    if updates:
        console.print("updates: " + ", ".join(updates))
    missing = [t for t, s in states.items() if s == MISSING]
    if missing:
        console.print(f"export missing for tasks {missing} (interrupted): the next `edgecl learn --run {run.root}` "
                      f"exports them again, or `edgecl export --run {run.root} --task N`")
    left = leftovers(run.store)
    if left:
        console.print(f"{len(left)} leftover temporary file(s) of an interrupted write: the next learn/export removes them")


def _update_line(run: Run, task: int) -> str:
    """``task N from M: B bytes (P % of its bundle)`` for each update of ``task`` (the bytes its
    update.json lists, as ``learn``/``export`` print them); '' if none."""
    parts = []
    for folder in sorted(run.store.task_dir(task).glob("update-from-*")):
        try:
            size, bundle = update_size(folder, read_json(folder / "update.json", "update.json"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            parts.append(f"task {task} {folder.name}: unreadable update.json")
            continue
        if bundle:
            parts.append(f"task {task} from {folder.name.rsplit('-', 1)[-1].lstrip('0') or '0'}: "
                         f"{size:,} bytes ({100 * size / bundle:.1f} % of its bundle)")
    return "; ".join(parts)


def checked_line(run: Run, done: list[int], verify: bool) -> str:
    """Verify what ``--verify`` asks for and say exactly what was checked."""
    if not verify:
        return ("checksums: metrics.json of every task verified (the numbers above); weights and bundles "
                "not checked: add --verify")
    files = sum(len([run.store.verified_path(t, n) for n in run.store.record(t)["files"]]) for t in done)
    bundles = [t for t in done if export_state(run.store, t) == BUNDLE]
    bundle_files = sum(verify_bundle(run.store, t) for t in bundles)
    return f"checksums: all {files} task files and {bundle_files} files of {len(bundles)} bundles verified"
