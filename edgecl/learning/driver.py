"""A learn session: open or create the run, plan the tasks, learn each one, export it.

This is what ``edgecl.learn()`` and ``edgecl learn`` run; it prints nothing. What happens is
reported to a :class:`LearnEvents` (the CLI's prints tables and progress bars; the default does
nothing). Under torchrun every rank runs this: rank 0 alone holds the run's lock, creates the run,
decides the plan and broadcasts it, writes the store and exports; the other ranks train their
share of every batch and take part in the all-reduces.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager

import torch

from edgecl.config import conflicts, read_yaml, resolve
from edgecl.data.run_data import RunData, open_data
from edgecl.errors import UsageError
from edgecl.exporting import export_task
from edgecl.exporters.manifest import failed_formats
from edgecl.learning.distributed import DistContext, broadcast_plan, local_device, setup, teardown
from edgecl.learning.step import learn_one
from edgecl.run.creation import create_run
from edgecl.run.bundles import clean_leftovers, missing_exports
from edgecl.run.plan import tasks_to_learn
from edgecl.run.preflight import check_relearn, check_run_file
from edgecl.run.run import Run
from edgecl.run.signing import check_sign_key, new_sign_key
from edgecl.run.store import RunStore


class LearnEvents:
    """Hooks a caller may override to watch a learn session (all no-ops here)."""

    def run_created(self, run: Run) -> None: ...

    def discarded(self, tasks: list[int], why: str) -> None: ...

    def nothing_to_do(self, run: Run) -> None: ...

    def task_started(self, run: Run, task: int) -> None: ...

    def task_learned(self, task: int, metrics: dict[str, Any], run_metrics: dict[str, Any]) -> None: ...

    def exported(self, manifest: dict[str, Any]) -> None: ...

    def cleaned(self, paths: list[Path]) -> None:
        """Leftover temporaries of a killed write were removed."""

    def export_missing(self, task: int) -> None:
        """Finished ``task`` has no bundle although one was asked for; it is exported again now."""

    def progress(self) -> ContextManager[Callable | None]:
        """A context giving the learner's ``wrap(phase, batches)`` (None: no progress display)."""
        return contextlib.nullcontext(None)


@dataclass
class LearnResult:
    run: Run
    tasks: list[int] = field(default_factory=list)  # what this call learned
    task_metrics: dict[int, dict[str, Any]] = field(default_factory=dict)
    run_metrics: dict[str, Any] = field(default_factory=dict)
    manifests: dict[int, dict[str, Any]] = field(default_factory=dict)
    failed_exports: list[str] = field(default_factory=list)  # "task 3 int8", ...


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda but no CUDA GPU is visible: use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def open_or_create(store: RunStore, options: dict[str, Any], config_file: Path | None,
                   events: LearnEvents) -> Run:
    """The run at ``store``; created from the options when new, checked against them when not."""
    yaml_values = read_yaml(config_file) if config_file else {}
    if store.exists():
        run = Run.from_dict(store, store.read_run())
        problems = conflicts(run.config, options, yaml_values)
        if problems:
            raise UsageError(problems[0])
        return new_sign_key(run, options.get("sign_key") or yaml_values.get("sign_key"))
    run = Run.from_dict(store, create_run(store, resolve(options, yaml_values)))
    events.run_created(run)
    return run


def learn_session(run_dir: Path, *, task: int | None = None, all_tasks: bool = False, force: bool = False,
                  config_file: Path | None = None, options: dict[str, Any] | None = None, device: str = "auto",
                  threads: int | None = None, export: bool = True, amp: str = "none",
                  events: LearnEvents | None = None, workers: int | None = None) -> LearnResult:
    """Learn the requested tasks of the run at ``run_dir`` (see :func:`edgecl.learn`)."""
    events = events or LearnEvents()
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 0):
        raise UsageError(f"--workers must be a non-negative integer, got {workers!r}")
    if threads is not None:
        torch.set_num_threads(threads)
    if amp not in ("none", "bf16"):
        raise UsageError(f"--amp must be none or bf16, got {amp!r}")
    chosen = pick_device(device)
    ctx = setup(chosen)
    torch_device = local_device(chosen)
    store = RunStore(run_dir)
    plan_args = (task, all_tasks, force, config_file, options or {})
    try:
        if not ctx.is_main:
            return _learn(store, ctx, plan_args, torch_device, False, amp, LearnEvents(), workers)
        with store.lock():
            return _learn(store, ctx, plan_args, torch_device, export, amp, events, workers)
    finally:
        teardown()


def _plan(store: RunStore, ctx: DistContext, plan_args: tuple, events: LearnEvents, export: bool) -> list[int]:
    """Rank 0 opens or creates the run and decides the tasks; the other ranks receive the plan.

    Everything the plan needs is checked before anything is discarded (:func:`check_relearn`, the
    data against run.json, the signing key): a failing ``--force`` leaves every task in place.
    """
    task, all_tasks, force, config_file, options = plan_args
    if not ctx.is_main:
        plan = broadcast_plan(None, ctx)
        if plan is None:
            raise SystemExit(1)
        return plan
    todo: list[int] | None = None
    try:
        removed = clean_leftovers(store)
        if removed:
            events.cleaned(removed)
        run = open_or_create(store, options, config_file, events)
        check_run_file(run)
        todo = tasks_to_learn(store.finished_tasks(), run.num_tasks, task, all_tasks, force)
        if export and run.config.sign_key is not None:
            check_sign_key(run.config.sign_key)
        if todo and store.task_dir(todo[0]).exists():  # relearning (--force), or folders without a record
            check_relearn(run, todo[0])
            open_data(run, workers=0).close()  # the data still matches run.json's classes
            forced = todo[0] in store.finished_tasks()
            events.discarded(store.discard_from(todo[0]), "relearning" if forced else "no valid record.json")
    finally:
        plan = broadcast_plan(todo, ctx)  # a failed rank 0 sends "stop" before raising
    return plan or []


def _learn(store: RunStore, ctx: DistContext, plan_args: tuple, device: torch.device, export: bool, amp: str,
           events: LearnEvents, workers: int | None = None) -> LearnResult:
    todo = _plan(store, ctx, plan_args, events, export)
    run = Run.from_dict(store, store.read_run())
    result = LearnResult(run)
    redo = missing_exports(store) if export and ctx.is_main else []
    if not todo and not redo:
        events.nothing_to_do(run)
        return result
    data = open_data(run, ctx.rank, ctx.world, workers, pin_memory=device.type == "cuda")  # workers per rank
    try:
        _learn_tasks(run, data, todo, ctx, device, export, amp, events, result)
        for t in redo:  # bundles an interrupted export never wrote
            events.export_missing(t)
            _export(run, data, t, events, result)
        if not todo:
            events.nothing_to_do(run)
    finally:
        data.close()
    return result


def _learn_tasks(run: Run, data: RunData, todo: list[int], ctx: DistContext, device: torch.device, export: bool,
                 amp: str, events: LearnEvents, result: LearnResult) -> None:
    for t in todo:
        events.task_started(run, t)
        with events.progress() as wrap:
            metrics, run_metrics = learn_one(run, data, t, device, wrap, amp, export=export)
        result.tasks.append(t)
        if not ctx.is_main:
            continue
        result.task_metrics[t], result.run_metrics = metrics, run_metrics
        events.task_learned(t, metrics, run_metrics)
        if export:
            _export(run, data, t, events, result)


def _export(run: Run, data: RunData, task: int, events: LearnEvents, result: LearnResult) -> None:
    """Export ``task`` with the run's formats (signed when the run has a key) and record the outcome."""
    manifest = export_task(run, data, task, set(run.config.export_formats), sign_key=run.config.sign_key)
    result.manifests[task] = manifest
    result.failed_exports += [f"task {task} {f}" for f in failed_formats(manifest)]
    events.exported(manifest)


