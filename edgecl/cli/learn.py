"""``edgecl learn``: parse the options, run a learn session, print what happens."""
from __future__ import annotations

import inspect
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from edgecl.cli.console import (DEFAULT_RUN, RunOpt, accuracy_table, console, one_line_errors,
                                print_manifest,
                                progress_wrap, summary_line)
from edgecl.cli.export import print_update
from edgecl.config import OPTIONS
from edgecl.errors import ExportFailed
from edgecl.learning.driver import LearnEvents, learn_session
from edgecl.learning.request import EXECUTION_OPTIONS, PLAN_OPTIONS, Execution, PlanRequest, learn_request
from edgecl.options import defaults, typer_parameter, with_parameters
from edgecl.run.run import Run


class PrintedEvents(LearnEvents):
    """The learn session as the terminal shows it: one line per step, Rich tables, progress bars."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def run_created(self, run: Run) -> None:
        c = run.config
        console.print(f"created run [bold]{run.root}[/]: {c.dataset}, {c.tasks} tasks, {c.method}, model {c.model}, "
                      f"input normalisation mean {c.mean} std {c.std}")
        if run.view is not None:
            console.print(run.view.line(), highlight=False, soft_wrap=True)
            for notice in run.view.notices():
                console.print(f"[bold yellow]notice:[/] {notice}", highlight=False, soft_wrap=True)

    def discarded(self, tasks: list[int], why: str) -> None:
        if why == "relearning":
            console.print(f"discarded tasks {tasks}")
        else:
            console.print(f"removed unfinished task folders {tasks} ({why})")

    def cleaned(self, paths: list[Path]) -> None:
        console.print(f"removed {len(paths)} leftover temporary file(s)/folder(s) of an interrupted write")

    def export_missing(self, task: int) -> None:
        console.print(f"task {task} has no bundle (its export was interrupted): exporting it again")

    def nothing_to_do(self, run: Run) -> None:
        console.print(f"all {run.num_tasks} tasks of {run.root} are learned; see `edgecl status --run {run.root}`")

    def task_started(self, run: Run, task: int) -> None:
        console.print(f"[bold]task {task}/{run.num_tasks}[/]: classes {run.task_class_names(task)}")

    def task_learned(self, task: int, metrics: dict[str, Any], run_metrics: dict[str, Any]) -> None:
        console.print(accuracy_table(task, metrics, run_metrics))
        console.print(summary_line(metrics, run_metrics))

    def exported(self, manifest: dict[str, Any]) -> None:
        print_manifest(manifest)

    def updated(self, run, update: dict[str, Any]) -> None:
        print_update(run, update)

    @contextmanager
    def progress(self) -> Iterator[Callable | None]:
        with progress_wrap(not self.quiet) as wrap:
            yield wrap


# The flags of `edgecl learn`, in the order its help lists them; help, types and defaults come
# from the option tables (edgecl.learning.request, edgecl.config.RunConfig).
_HEAD = ("task", "all_tasks", "force")
_RUN_FLAGS = ("dataset", "data_root", "model", "weights", "resize", "tasks", "rank", "epochs", "lr", "optimizer", "head_lr",
              "schedule", "weight_decay", "batch_size", "lam", "method", "blocks", "seed", "shuffle_classes",
              "augment", "align", "ca_cov", "ca_logit_norm", "fresh_final_norm")
_EXECUTION = ("device", "threads", "workers", "amp", "export")
_TAIL = ("export_formats", "int8_calibration", "sign_key", "updates")


def _parameters() -> list[inspect.Parameter]:
    """The command's parameters: ``--run``, the plan, ``--config``, the run options, the execution
    choices, ``--quiet``; a table option defaults to None (not given) unless it is an execution or
    plan choice, whose default is the table's."""
    plan, execution = defaults(PlanRequest), defaults(Execution)
    params = [inspect.Parameter("run", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_RUN, annotation=RunOpt)]
    params += [typer_parameter(n, PLAN_OPTIONS[n], plan[n]) for n in _HEAD]
    params.append(inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[Path], typer.Option("--config", help="YAML file with run options.")]))
    params += [typer_parameter(n, OPTIONS[n]) for n in _RUN_FLAGS]
    params += [typer_parameter(n, EXECUTION_OPTIONS[n], execution[n]) for n in _EXECUTION]
    params += [typer_parameter(n, OPTIONS[n]) for n in _TAIL]
    params.append(inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
        bool, typer.Option(help="No progress bars.")]))
    return params


def _learn(run: Path, config: Path | None, quiet: bool, **values: Any) -> None:
    """Learn task N (or the next, or all) on top of the tasks before it, merge, save and measure."""
    result = learn_session(learn_request(run, values, config), PrintedEvents(quiet))
    if result.failed_exports:
        raise ExportFailed(f"learned, but these exports failed their gate: {', '.join(result.failed_exports)} "
                           "(see the manifests)")


learn = with_parameters(one_line_errors(_learn), _parameters())
