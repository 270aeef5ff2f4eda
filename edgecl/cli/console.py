"""Terminal output: Rich progress bars for every pass over data, result tables, one-line errors."""
from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
import os
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgecl.errors import EdgeclError
from edgecl_runtime.contract import STATUS_GLYPHS, STATUS_WORDS

console = Console()
err_console = Console(stderr=True)


RunOpt = Annotated[Path, typer.Option("--run", "--run-dir", help="Run folder (one per run). Under torchrun use "
                                     "--run-dir (torchrun claims --run).")]
DEFAULT_RUN = Path("models/default")


def one_line_errors(func: Callable) -> Callable:
    """Every failure becomes one ``error: ...`` line on stderr and an exit code (edgecl.errors).

    An EdgeclError prints its message and exits with its code (2 bad command line, 1 could not do
    the job). Anything else is unexpected: one line naming the exception, a hint, exit 1, and the
    full traceback when EDGECL_DEBUG=1.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EdgeclError as exc:
            typer.echo(f"error: {_first_line(exc)}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("EDGECL_DEBUG") == "1":
                raise
            typer.echo(f"error: {type(exc).__name__}: {_first_line(exc)} "
                       "(set EDGECL_DEBUG=1 for the traceback)", err=True)
            raise typer.Exit(1) from None

    return wrapper


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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


def print_manifest(manifest: dict[str, Any]) -> None:
    """Every format of a bundle with its gate numbers, then one line per failed format."""
    table = Table(title=f"export of task {manifest['task']} (gate vs PyTorch)")
    for col in ("format", "status", "max |Δlogit|", "top-1 agree", "acc %", "Δ pp"):
        table.add_column(col, no_wrap=True)
    failures = []
    for name, entry in manifest["formats"].items():
        gate = entry.get("gate") or {}
        status = entry.get("status")
        table.add_row(name, f"{STATUS_GLYPHS.get(status, '?')} {STATUS_WORDS.get(status, str(status))}",
                      _fmt(gate.get("max_abs_diff"), ".1e"), _fmt(gate.get("top1_agreement"), ".4f"),
                      _fmt(gate.get("accuracy"), ".2f"), _fmt(gate.get("accuracy_delta_pp"), "+.2f"))
        if status not in (None, "passed"):
            failures.append(f"{name}: {gate.get('reason') or entry.get('error') or 'failed'}")
    console.print(table)
    for line in failures:
        console.print(f"  {line}")
    for name, entry in manifest["formats"].items():  # the INT8 files record their fallback's float layers
        if entry.get("float_nodes"):
            console.print(f"  {name}: {len(entry['float_nodes'])} layer(s) kept float by the fallback,"
                          f" {100 * entry['quantized_matmul_fraction']:.1f} % of MatMul/Gemm FLOPs int8"
                          f" ({entry['fallback_seconds']:.0f} s search)")
    fallback = manifest["formats"].get("int8", {})
    calibration = fallback.get("calibration") or {}
    if len(calibration.get("tried") or []) > 1:
        outcome = (f"shipped {calibration['method']}" if fallback.get("status") == "passed"
                   else "no calibration passed")
        console.print(f"  int8: {calibration['requested']} calibration failed its gate; {outcome}"
                      f" (tried {', '.join(t['method'] for t in calibration['tried'])})")


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)
