"""A learn session: open or create the run, plan the tasks, learn each one, export it.

This is what ``edgecl.learn()`` and ``edgecl learn`` run; it prints nothing. What happens is
reported to a :class:`LearnEvents` (the CLI's prints tables and progress bars; the default does
nothing). Under torchrun every rank runs this: rank 0 alone holds the run's lock, creates the run,
decides the plan and broadcasts it, writes the store and exports; the other ranks train their
share of every batch and take part in the all-reduces.

The call arrives as one :class:`edgecl.learning.request.LearnRequest`, every value already
checked; nothing here checks an option again. run.json is parsed once per session (rank 0 when it
opens or creates the run, the other ranks after the plan is broadcast) and that :class:`Run` is
what every later step reads.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager

import torch

from edgecl.config import conflicts
from edgecl.data.run_data import RunData, open_data
from edgecl.errors import UsageError
from edgecl.exporting import export_task
from edgecl.exporters.manifest import failed_formats
from edgecl.learning.distributed import DistContext, broadcast_plan, local_device, setup, teardown
from edgecl.learning.learner import Training
from edgecl.learning.request import LearnRequest, RunOptions
from edgecl.learning.step import learn_one
from edgecl.run.creation import create_run
from edgecl.run.bundles import BUNDLE, clean_leftovers, export_state, missing_exports
from edgecl.run.plan import check_stranded, tasks_to_learn
from edgecl.run.preflight import check_relearn, check_run_file
from edgecl.run.run import Run
from edgecl.run.signing import check_sign_key, new_sign_key, new_stored_option
from edgecl.run.store import RunStore
from edgecl.updating import export_update


class LearnEvents:
    """Hooks a caller may override to watch a learn session (all no-ops here)."""

    def run_created(self, run: Run) -> None: ...

    def discarded(self, tasks: list[int], why: str) -> None: ...

    def nothing_to_do(self, run: Run) -> None: ...

    def task_started(self, run: Run, task: int) -> None: ...

    def task_learned(self, task: int, metrics: dict[str, Any], run_metrics: dict[str, Any]) -> None: ...

    def exported(self, manifest: dict[str, Any]) -> None: ...

    def updated(self, run: Run, update: dict[str, Any]) -> None:
        """An over-the-air update to the task just exported was written (``update.json``'s dict)."""

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
    """The torch device for ``--device`` (already checked to be auto, cpu or cuda)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda but no CUDA GPU is visible: use --device cpu or auto")
    return torch.device(name)


@dataclass(frozen=True)
class _Session:
    """One rank's view of a learn call: the store, the process group, the device it trains on."""

    store: RunStore
    ctx: DistContext
    request: LearnRequest
    device: torch.device
    events: LearnEvents

    @property
    def export(self) -> bool:
        """Only rank 0 exports (and writes); the others train their share."""
        return self.request.execution.export and self.ctx.is_main


def open_or_create(store: RunStore, options: RunOptions, events: LearnEvents) -> Run:
    """The run at ``store``, parsed once; created from ``options`` when new, checked against the
    options given when not (a different value is a conflict, a new signing key replaces the old)."""
    if store.exists():
        run = Run.from_dict(store, store.read_run())
        problems = conflicts(run.config, options.given_values(run.config))
        if problems:
            raise UsageError(problems[0])
        run = new_sign_key(run, options.sign_key())
        return new_stored_option(run, "updates", options.given_values().get("updates"))
    run = Run.from_dict(store, create_run(store, options.config))
    events.run_created(run)
    return run


def learn_session(request: LearnRequest, events: LearnEvents | None = None) -> LearnResult:
    """Learn the requested tasks of the run at ``request.run_dir`` (see :func:`edgecl.learn`)."""
    events = events or LearnEvents()
    execution = request.execution
    if execution.threads is not None:
        torch.set_num_threads(execution.threads)
    chosen = pick_device(execution.device)
    ctx = setup(chosen)
    store = RunStore(request.run_dir)
    try:
        if not ctx.is_main:
            return _learn(_Session(store, ctx, request, local_device(chosen), LearnEvents()))
        with store.lock():
            return _learn(_Session(store, ctx, request, local_device(chosen), events))
    finally:
        teardown()


def _plan(session: _Session) -> tuple[list[int], Run | None]:
    """Rank 0 opens or creates the run and decides the tasks; the other ranks receive the plan.

    Returns the tasks and, on rank 0, the run as parsed here (the other ranks read it afterwards,
    once rank 0 has created it). Everything the plan needs is checked before anything is discarded
    (:func:`check_relearn`, the data against run.json, the signing key): a failing ``--force``
    leaves every task in place.
    """
    store, ctx, events, plan = session.store, session.ctx, session.events, session.request.plan
    if not ctx.is_main:
        todo = broadcast_plan(None, ctx)
        if todo is None:
            raise SystemExit(1)
        return todo, None
    todo: list[int] | None = None
    try:
        removed = clean_leftovers(store)
        if removed:
            events.cleaned(removed)
        run = open_or_create(store, session.request.options, events)
        check_run_file(run)
        todo = tasks_to_learn(store.finished_tasks(), run.num_tasks, plan.task, plan.all_tasks, plan.force)
        stranded = check_stranded(store, todo, plan.force)
        if session.export and run.config.sign_key is not None:
            check_sign_key(run.config.sign_key)
        if todo and (store.task_dir(todo[0]).exists() or stranded):  # --force, or folders without a record
            check_relearn(run, todo[0])
            open_data(run, workers=0).close()  # the data still matches run.json's classes
            forced = todo[0] in store.finished_tasks() or bool(stranded)
            events.discarded(store.discard_from(todo[0], keep_recorded=not forced),
                             "relearning" if forced else "no valid record.json")
    finally:
        todo = broadcast_plan(todo, ctx)  # a failed rank 0 sends "stop" before raising
    return todo or [], run


def _learn(session: _Session) -> LearnResult:
    todo, run = _plan(session)
    if run is None:  # ranks other than 0: the run rank 0 opened or created
        run = Run.from_dict(session.store, session.store.read_run())
    result = LearnResult(run)
    events = session.events
    redo = missing_exports(session.store) if session.export else []
    if not todo and not redo:
        events.nothing_to_do(run)
        return result
    data = open_data(run, session.ctx.rank, session.ctx.world, session.request.execution.workers,
                     pin_memory=session.device.type == "cuda")  # workers per rank
    try:
        _learn_tasks(session, run, data, todo, result)
        for t in redo:  # bundles an interrupted export never wrote
            events.export_missing(t)
            _export(run, data, t, events, result)
        if not todo:
            events.nothing_to_do(run)
    finally:
        data.close()
    return result


def _learn_tasks(session: _Session, run: Run, data: RunData, todo: list[int], result: LearnResult) -> None:
    events = session.events
    for t in todo:
        events.task_started(run, t)
        with events.progress() as wrap:
            metrics, run_metrics = learn_one(run, data, t, Training(session.device, session.request.execution.amp,
                                                                    wrap), export=session.export)
        result.tasks.append(t)
        if not session.ctx.is_main:
            continue
        result.task_metrics[t], result.run_metrics = metrics, run_metrics
        events.task_learned(t, metrics, run_metrics)
        if session.export:
            _export(run, data, t, events, result)


def _export(run: Run, data: RunData, task: int, events: LearnEvents, result: LearnResult) -> None:
    """Export ``task`` with the run's formats (signed when the run has a key) and record the outcome."""
    manifest = export_task(run, data, task, set(run.config.export_formats), sign_key=run.config.sign_key)
    result.manifests[task] = manifest
    result.failed_exports += [f"task {task} {f}" for f in failed_formats(manifest)]
    events.exported(manifest)
    if run.config.updates and task > 1 and export_state(run.store, task - 1) == BUNDLE:
        events.updated(run, export_update(run, task, sign_key=run.config.sign_key))
