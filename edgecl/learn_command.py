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
              options: dict[str, Any], device_name: str, threads: int | None, export: bool, quiet: bool) -> None:
    from .session import learn_one, open_data

    if threads is not None:
        torch.set_num_threads(threads)
    device = pick_device(device_name)
    store = RunStore(run_dir)
    with store.lock():
        store.clean_partials()
        run = open_or_create(store, options, config_file)
        config = store.config()
        todo = tasks_to_learn(store, config.tasks, task, all_tasks, force)
        if not todo:
            console.print(f"all {config.tasks} tasks of {run_dir} are learned; see `edgecl status --run {run_dir}`")
            return
        data = open_data(run)
        failed_exports: list[str] = []
        for t in todo:
            console.print(f"[bold]task {t}/{config.tasks}[/]: classes {[run['class_names'][c] for c in run['task_classes'][t - 1]]}")
            with progress_wrap(not quiet) as wrap:
                metrics = learn_one(store, run, data, t, device, wrap)
            run_metrics = store.read_json_metrics()
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
        metrics = store.read_json_metrics()
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
