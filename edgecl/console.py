"""Terminal output: Rich progress bars for every pass over data, result tables, one-line errors."""
from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


class UserError(Exception):
    """A refusal or bad input: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 2) -> None:
    raise UserError(message, code)


def one_line_errors(func: Callable) -> Callable:
    """Turn known exceptions into ``error: ...`` on stderr and a non-zero exit (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .inflora import MergeError
        from .store import StoreError

        try:
            return func(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.code) from None
        except (ValueError, FileNotFoundError, StoreError, MergeError, RuntimeError) as exc:
            typer.echo(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True)
            raise typer.Exit(1) from None

    return wrapper


@contextmanager
def progress_wrap(enabled: bool = True) -> Iterator[Callable]:
    """A ``wrap(phase, batches)`` for the learner that shows one bar per pass."""
    progress = Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err_console, transient=True,
                        disable=not enabled or not sys.stderr.isatty())

    def wrap(phase: str, batches):
        total = len(batches) if hasattr(batches, "__len__") else None
        bar = progress.add_task(phase, total=total)
        for item in batches:
            yield item
            progress.advance(bar)
        progress.remove_task(bar)

    with progress:
        yield wrap


def accuracy_table(task: int, metrics: dict[str, Any], run_metrics: dict[str, Any]) -> Table:
    """The accuracy-matrix row after ``task`` (one column per task) with A_t, as a Rich table."""
    row = metrics["accuracy_row"]
    table = Table(title=f"after task {task}: accuracy (%) per task")
    for j in range(len(row)):
        table.add_column(f"T{j + 1}", justify="right")
    table.add_column("all seen (A_t)", justify="right", style="bold")
    table.add_row(*[f"{a:.1f}" for a in row], f"{metrics['seen_accuracy']:.1f}")
    return table


def summary_line(metrics: dict[str, Any], run_metrics: dict[str, Any]) -> str:
    return (f"A_T {metrics['seen_accuracy']:.1f}  mean incremental {run_metrics['average_incremental_accuracy']:.1f}  "
            f"forgetting {run_metrics['forgetting']:.1f} pp  "
            f"max |dW P_old|/|dW| {metrics['interference']['kv_weight_ratio_max']:.1e}  "
            f"feature drift {metrics['interference']['feature_drift_mean']:.3f}")
