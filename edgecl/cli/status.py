"""``edgecl status``: tasks done, the accuracy matrix so far, and what is next."""
from __future__ import annotations

from rich.table import Table

from edgecl.cli.console import DEFAULT_RUN, RunOpt, console, one_line_errors
from edgecl.learning.step import finished_run_metrics
from edgecl.run.run import open_run


@one_line_errors
def status(run: RunOpt = DEFAULT_RUN) -> None:
    """Tasks done, metrics so far, and what is next."""
    opened = open_run(run)
    config = opened.config
    done = opened.finished_tasks()
    console.print(f"run [bold]{run}[/]: {config.dataset}, {config.method}, model {config.model}, "
                  f"rank {config.rank}, {config.epochs} epochs")
    if done:
        metrics = finished_run_metrics(opened.store)
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
                  (f"next: `edgecl learn --run {run} --task {nxt}`" if nxt <= config.tasks else "all tasks learned"))
