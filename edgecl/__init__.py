"""edgecl: continual learning (InfLoRA) for edge devices. The public API.

Four calls cover what the CLI does, with keyword arguments and typed results; nothing here prints::

    import edgecl
    result = edgecl.learn("models/default", all_tasks=True)        # learn (and export) every task
    manifest = edgecl.export("models/default", task=5)             # the run's formats, none dropped
    paths = edgecl.report("models/default")                          # report.md + JSON + plots
    run = edgecl.open_run("models/default")                          # the typed run (config, tasks, store)

Errors are :class:`edgecl.errors.EdgeclError` subclasses with one-line messages.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecl.errors import DataError, EdgeclError, ExportFailed, StoreError, UsageError

if TYPE_CHECKING:
    from edgecl.exporting import ExportEvents
    from edgecl.format_choice import FormatChoice
    from edgecl.learning.driver import LearnEvents, LearnResult
    from edgecl.run.run import Run

__all__ = ["learn", "export", "report", "open_run", "EdgeclError", "UsageError", "StoreError", "DataError",
           "ExportFailed"]


def learn(run_dir: str | Path, *, config_file: str | Path | None = None, events: "LearnEvents | None" = None,
          **options: Any) -> "LearnResult":
    """Learn task ``task`` (default: the next), or every remaining one with ``all_tasks``.

    ``options`` are the keywords of ``edgecl learn``'s options, by name: the plan (``task``,
    ``all_tasks``, ``force``), the execution (``device``, ``threads``, ``workers``, ``amp``,
    ``export``) and the run options (dataset, model, weights, tasks, rank, epochs, lr, batch_size,
    lam, method, align, export_formats, sign_key, ...: :class:`edgecl.config.RunConfig`). Each is
    checked here, before anything runs: an unknown name or a bad value is an
    :class:`edgecl.errors.OptionError` (a UsageError) naming it.
    The first call creates the run at ``run_dir`` from the run options and ``config_file``; later
    calls must agree with the frozen config (``sign_key`` may change: the new key signs the
    bundles from then on). Each task is exported after it is learned unless ``export=False``;
    failed formats are listed in the result's ``failed_exports`` (the CLI turns them into exit
    code 1). ``workers`` data worker processes decode and augment (None: automatic; the weights do
    not depend on it).
    """
    from edgecl.learning.driver import learn_session
    from edgecl.learning.request import learn_request

    return learn_session(learn_request(run_dir, options, config_file), events)


def export(run_dir: str | Path, *, task: int | None = None, formats: "str | set[str] | FormatChoice | None" = None,
           opset: int | None = None, max_batch: int | None = None, triton: str | Path | None = None,
           triton_name: str | None = None, sign_key: str | Path | None = None,
           update_from: int | None = None, int8_calibration: str | None = None, threads: int | None = None,
           events: "ExportEvents | None" = None) -> dict[str, Any]:
    """Export finished ``task`` (default: the latest) as a gated bundle; returns its manifest.

    ``formats`` (FP32 is always exported) is spelled as ``--formats``
    (:mod:`edgecl.format_choice`): None exports the run's own formats and every format the task's
    bundle (and the update's base bundle) already ships; ``"fp16,int8"`` or ``{"fp16", "int8"}``
    names a whole set, ``"+trt,-int8cpu"`` changes the run's. A choice that would drop a shipped
    format without naming it (``-int8cpu``) is a UsageError before anything is written: a device
    may be running that file. A format that fails its export or gate is recorded in the manifest,
    not raised. ``triton``: a Triton model
    repository; the task is published there as version N of ``triton_name`` (default: the run's
    folder name) when its FP32 gate passed (``ExportFailed`` otherwise). ``sign_key`` (a private
    key file from ``edgecl keygen``; default: the run's own ``sign_key``) adds ``manifest.sig``.
    ``update_from`` M: also write the over-the-air update ``task-NN/update-from-MM/`` (its
    ``update.json`` is in the returned manifest's ``"update"`` key). ``int8_calibration``: minmax |
    percentile | entropy for this export (default: the run's ``int8_calibration``). ``threads``:
    torch's CPU threads. ``events`` (:class:`edgecl.exporting.ExportEvents`) hears of each step as
    it is done: the formats chosen, the bundle, the Triton version, the update (the CLI prints them).
    """
    from edgecl.exporting import ExportEvents, export_plan, export_run_task, finished_task
    from edgecl.format_choice import FormatChoice
    from edgecl.threads import checked_threads, use_threads
    from edgecl.triton_publish import check_repo, publish_task, triton_name as _name

    from edgecl.updating import check_update_request, export_run_update, stale_updates

    choice, threads = FormatChoice.of(formats), checked_threads(threads)  # checked where they enter
    events = events or ExportEvents()
    run = open_run(run_dir)
    if triton is not None:  # before any export work
        _name(run, triton_name), check_repo(triton)
    task = finished_task(run, task)
    if update_from is not None:
        check_update_request(run, task, update_from)
    plan = export_plan(run, task, choice, update_from)
    events.planned(run, plan)
    use_threads(threads)
    manifest = export_run_task(run, task, set(plan.formats), opset, max_batch, sign_key, int8_calibration)
    events.exported(run, manifest)
    if triton is not None:
        events.published(publish_task(run, manifest, triton, triton_name))
    stale, later = stale_updates(run, manifest["task"])
    for base in sorted(set(stale) - {update_from}):  # made for the previous export of this task: rewrite
        events.updated(run, export_run_update(run, manifest["task"], base, sign_key))
    for folder, later_task in later:
        events.notice(f"{folder} was made from the previous export of task {manifest['task']}: devices that "
                      f"install this bundle will refuse it; write it again with `edgecl export --task "
                      f"{later_task} --update-from {manifest['task']}`")
    if update_from is not None:
        update = export_run_update(run, manifest["task"], update_from, sign_key)
        events.updated(run, update)
        return {**manifest, "update": update}
    return manifest


def report(run_dir: str | Path, *, out: str | Path | None = None, compare: str | Path | None = None,
           latency_iters: int = 40, threads: int | None = None) -> dict[str, Path]:
    """Write the run's Markdown + JSON report and plots; returns the written paths. ``threads``:
    ONNX Runtime's CPU threads for the latency it measures (None: its own choice)."""
    from edgecl.reporting import write_report
    from edgecl.threads import checked_threads

    return write_report(Path(run_dir), None if out is None else Path(out),
                        None if compare is None else Path(compare), latency_iters, checked_threads(threads))


def open_run(run_dir: str | Path) -> "Run":
    """The run stored at ``run_dir`` as a typed :class:`edgecl.run.run.Run`."""
    from edgecl.run.run import open_run as _open

    return _open(run_dir)
