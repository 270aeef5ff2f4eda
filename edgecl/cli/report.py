"""``edgecl report``: Markdown + JSON report with plots for a run."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import edgecl
from edgecl.cli.console import console, one_line_errors


@one_line_errors
def report_command(
    run: Annotated[Path, typer.Option("--run", help="Run folder to report on.")] = Path("models/default"),
    out: Annotated[Optional[Path], typer.Option("--out", help="Markdown file to write (default RUN/report.md); "
                                                "the JSON and PNGs go beside it.")] = None,
    compare: Annotated[Optional[Path], typer.Option("--compare", help="Baseline run (e.g. SeqLoRA) drawn beside "
                                                    "this one.")] = None,
    latency_iters: Annotated[int, typer.Option("--latency-iters", min=0, help="Batch-1 ONNX Runtime runs per "
                                               "format when a manifest has no latency (0: skip).")] = 40,
    threads: Annotated[Optional[int], typer.Option("--threads", help="ONNX Runtime CPU threads for the latency "
                                                   "it measures (default: its own choice).")] = None,
) -> None:
    """Markdown + JSON report with plots: config, accuracy, interference, memory, time, export bundles."""
    paths = edgecl.report(run, out=out, compare=compare, latency_iters=latency_iters, threads=threads)
    console.print(f"wrote {paths['markdown']} and {paths['json'].name}, "
                  f"{paths['accuracy_matrix'].name}, {paths['seen_accuracy'].name}, {paths['memory'].name} beside it")
