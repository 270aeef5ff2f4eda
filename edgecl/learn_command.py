"""What ``edgecl learn`` and ``edgecl status`` do, kept apart from the option parsing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from .config import conflicts, read_yaml, resolve
from .console import accuracy_table, console, fail, progress_wrap, summary_line
from .creation import create_run
from .store import RunStore


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        fail("--device cuda but no CUDA GPU is visible: use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        fail(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def open_or_create(store: RunStore, options: dict[str, Any], config_file: Path | None) -> dict[str, Any]:
    yaml_values = read_yaml(config_file) if config_file else {}
    if store.exists():
        run = store.read_run()
        problems = conflicts(store.config(), options, yaml_values)
        if problems:
            fail(problems[0])
        return run
    config = resolve(options, yaml_values)
    run = create_run(store, config)
    console.print(f"created run [bold]{store.root}[/]: {config.dataset}, {config.tasks} tasks, "
                  f"{config.method}, model {config.model}")
    return run


def tasks_to_learn(store: RunStore, total: int, task: int | None, all_tasks: bool, force: bool) -> list[int]:
    done = store.finished_tasks()
    nxt = len(done) + 1
    if task is not None and all_tasks:
        fail("give either --task N or --all, not both")
    if task is None:
        if nxt > total:
            return []
        return list(range(nxt, total + 1)) if all_tasks else [nxt]
    if not 1 <= task <= total:
        fail(f"task {task} does not exist: this run has tasks 1..{total}")
    if task > nxt:
        fail(f"task {task} needs task {task - 1} first: the next task to learn is {nxt}")
    if task in done:
        if not force:
            fail(f"task {task} is already learned: add --force to discard tasks {task}..{len(done)} and relearn it")
        removed = store.discard_from(task)
        console.print(f"discarded tasks {removed}")
    return [task]


def run_learn(run_dir: Path, task: int | None, all_tasks: bool, force: bool, config_file: Path | None,
              options: dict[str, Any], device_name: str, threads: int | None, export: bool, quiet: bool,
              amp: str = "none") -> None:
    """Learn the requested tasks; under torchrun every rank trains, rank 0 alone writes and prints."""
    from .distributed import local_device, setup, teardown

    if threads is not None:
        torch.set_num_threads(threads)
    device = pick_device(device_name)
    if amp not in ("none", "bf16"):
        fail(f"--amp must be none or bf16, got {amp!r}")
    ctx = setup(device)
    device = local_device(device)
    store = RunStore(run_dir)
    try:
        if ctx.is_main:
            with store.lock():
                _learn(store, ctx, task, all_tasks, force, config_file, options, device, export, quiet, amp)
        else:
            _learn(store, ctx, task, all_tasks, force, config_file, options, device, False, True, amp)
    finally:
        teardown()


def _plan(store: RunStore, ctx, task, all_tasks, force, config_file, options) -> list[int]:
    """Rank 0 opens or creates the run and decides the tasks; the other ranks receive the plan."""
    from .distributed import broadcast_plan

    todo: list[int] | None = None
    if ctx.is_main:
        try:
            store.clean_partials()
            open_or_create(store, options, config_file)
            todo = tasks_to_learn(store, store.config().tasks, task, all_tasks, force)
            if todo and store.task_dir(todo[0]).exists():  # folders without a record (edited by hand)
                removed = store.discard_from(todo[0])
                console.print(f"removed unfinished task folders {removed} (no valid record.json)")
        finally:
            plan = broadcast_plan(todo, ctx)  # a failed rank 0 sends "stop" before raising
    else:
        plan = broadcast_plan(None, ctx)
        if plan is None:
            raise SystemExit(1)
    return plan


def _learn(store: RunStore, ctx, task, all_tasks, force, config_file, options, device, export, quiet, amp) -> None:
    from .session import learn_one, open_data

    todo = _plan(store, ctx, task, all_tasks, force, config_file, options)
    config = store.config()
    if not todo:
        console.print(f"all {config.tasks} tasks of {store.root} are learned; see `edgecl status --run {store.root}`")
        return
    run = store.read_run()
    data = open_data(run, ctx.rank, ctx.world)
    failed_exports: list[str] = []
    for t in todo:
        if ctx.is_main:
            names = [run["class_names"][c] for c in run["task_classes"][t - 1]]
            console.print(f"[bold]task {t}/{config.tasks}[/]: classes {names}")
        with progress_wrap(not quiet) as wrap:
            metrics, run_metrics = learn_one(store, run, data, t, device, wrap, amp)
        if not ctx.is_main:
            continue
        console.print(accuracy_table(t, metrics, run_metrics))
        console.print(summary_line(metrics, run_metrics))
        if export:
            from .export_command import export_after_task

            failed_exports += [f"task {t} {f}" for f in export_after_task(store, run, data, t, device)]
    if failed_exports:
        fail(f"learned, but these exports failed their gate: {', '.join(failed_exports)} (see the manifests)", code=1)


def show_status(run_dir: Path) -> None:
    store = RunStore(run_dir)
    if not store.exists():
        fail(f"no run at {run_dir}: create one with `edgecl learn --run {run_dir}`")
    config = store.config()
    done = store.finished_tasks()
    console.print(f"run [bold]{run_dir}[/]: {config.dataset}, {config.method}, model {config.model}, "
                  f"rank {config.rank}, {config.epochs} epochs")
    if done:
        from .session import finished_run_metrics

        metrics = finished_run_metrics(store)
        table = Table(title="accuracy matrix (%)")
        table.add_column("after")
        for j in range(len(done)):
            table.add_column(f"T{j + 1}", justify="right")
        for i, row in enumerate(metrics["accuracy_matrix"]):
            table.add_row(f"task {i + 1}", *[f"{a:.1f}" for a in row], *[""] * (len(done) - len(row)))
        console.print(table)
        console.print(f"A_T {metrics['final_accuracy']:.2f}  mean incremental {metrics['average_incremental_accuracy']:.2f}"
                      f"  forgetting {metrics['forgetting']:.2f}  BWT {metrics['backward_transfer']:.2f}")
    nxt = len(done) + 1
    console.print(f"tasks done: {len(done)}/{config.tasks}; " +
                  (f"next: `edgecl learn --run {run_dir} --task {nxt}`" if nxt <= config.tasks else "all tasks learned"))
