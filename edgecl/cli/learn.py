"""``edgecl learn``: parse the options, run a learn session, print what happens."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from edgecl.cli.console import (DEFAULT_RUN, RunOpt, accuracy_table, console, one_line_errors,
                                print_manifest,
                                progress_wrap, summary_line)
from edgecl.config import parse_formats
from edgecl.errors import ExportFailed
from edgecl.learning.driver import LearnEvents, learn_session
from edgecl.run.run import Run


class PrintedEvents(LearnEvents):
    """The learn session as the terminal shows it: one line per step, Rich tables, progress bars."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def run_created(self, run: Run) -> None:
        c = run.config
        console.print(f"created run [bold]{run.root}[/]: {c.dataset}, {c.tasks} tasks, {c.method}, model {c.model}, "
                      f"input normalisation mean {c.mean} std {c.std}")

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

    @contextmanager
    def progress(self) -> Iterator[Callable | None]:
        with progress_wrap(not self.quiet) as wrap:
            yield wrap


@one_line_errors
def learn(
    run: RunOpt = DEFAULT_RUN,
    task: Annotated[Optional[int], typer.Option(help="1-based task to learn (default: the next one).")] = None,
    all_tasks: Annotated[bool, typer.Option("--all", help="Learn every remaining task.")] = False,
    force: Annotated[bool, typer.Option(help="Relearn a finished task, discarding it and later tasks.")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML file with run options.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="default | mnist | fashion-mnist | cifar100 | imagefolder")] = None,
    data_root: Annotated[Optional[str], typer.Option(help="Folder holding the data set files.")] = None,
    model: Annotated[Optional[str], typer.Option(help="timm ViT name (e.g. vit_base_patch16_224).")] = None,
    weights: Annotated[Optional[str], typer.Option(help="bundled | none | hub | PATH (.safetensors / timm checkpoint).")] = None,
    tasks: Annotated[Optional[int], typer.Option(help="Number of tasks the classes are split into.")] = None,
    rank: Annotated[Optional[int], typer.Option(help="Branch rank r.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs per task.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate of the branches (and of the heads unless --head-lr).")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="adam | sgd (momentum 0.9).")] = None,
    head_lr: Annotated[Optional[float], typer.Option(help="Learning rate of the new task's head (default: --lr).")] = None,
    schedule: Annotated[Optional[str], typer.Option(help="Per-epoch rate: cosine (InfLoRA's) | cosine-annealing | multistep:E1,E2 (x0.1 at each 0-based epoch).")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="Weight decay of branches and head (L2, as the official optimisers).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Training batch size.")] = None,
    lam: Annotated[Optional[float], typer.Option("--lambda", help="Memory threshold start lambda.")] = None,
    method: Annotated[Optional[str], typer.Option(help="inflora | seqlora")] = None,
    blocks: Annotated[Optional[int], typer.Option(help="Adapt only the first n blocks.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed (data order, heads, augmentation).")] = None,
    shuffle_classes: Annotated[Optional[bool], typer.Option("--shuffle-classes", help="Shuffle the class order with the seed.")] = None,
    augment: Annotated[Optional[str], typer.Option(help="none | shift | crop-flip")] = None,
    align: Annotated[Optional[str], typer.Option(help="Classifier alignment after each task: none | ca.")] = None,
    ca_cov: Annotated[Optional[str], typer.Option(help="CA covariance storage: full | diag | shared.")] = None,
    ca_logit_norm: Annotated[Optional[bool], typer.Option("--ca-logit-norm/--no-ca-logit-norm", help="CA with logit normalisation (tau 0.1).")] = None,
    fresh_final_norm: Annotated[Optional[bool], typer.Option("--fresh-final-norm", help="Reset the backbone's final LayerNorm to weight 1, bias 0 (the CIFAR-100 + CA recipe).")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda (auto = CUDA when present).")] = "auto",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Data worker processes decoding and augmenting images (per rank; default for image files: min(max(cores - 1, 2), 8), started once per session; 0 for array data). Same weights for every value.")] = None,
    amp: Annotated[str, typer.Option(help="Training autocast: none | bf16 (CUDA).")] = "none",
    export: Annotated[bool, typer.Option("--export/--no-export", help="Export a bundle after each task.")] = True,
    formats: Annotated[Optional[str], typer.Option(help="Formats exported after each task, e.g. fp16,int8,int8cpu,trt (default fp16,int8,int8cpu; FP32 always; 'none' for FP32 only).")] = None,
    int8_calibration: Annotated[Optional[str], typer.Option(help="INT8 activation ranges: minmax (default, by measurement) | percentile | entropy.")] = None,
    sign_key: Annotated[Optional[Path], typer.Option(help="Ed25519 private key (`edgecl keygen`) signing every bundle of the run; its path is kept in run.json (a new one replaces it).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Learn task N (or the next, or all) on top of the tasks before it, merge, save and measure."""
    options = dict(dataset=dataset, data_root=data_root, model=model, weights=weights, tasks=tasks, rank=rank,
                   epochs=epochs, lr=lr, batch_size=batch_size, lam=lam, method=method, blocks=blocks, seed=seed,
                   shuffle_classes=shuffle_classes, augment=augment, align=align, ca_cov=ca_cov,
                   ca_logit_norm=ca_logit_norm, optimizer=optimizer, head_lr=head_lr, schedule=schedule,
                   weight_decay=weight_decay, fresh_final_norm=fresh_final_norm, sign_key=None if sign_key is None else str(sign_key),
                   export_formats=None if formats is None else parse_formats(formats), int8_calibration=int8_calibration)
    result = learn_session(run, task=task, all_tasks=all_tasks, force=force, config_file=config, options=options,
                           device=device, threads=threads, export=export, amp=amp, events=PrintedEvents(quiet),
                           workers=workers)
    if result.failed_exports:
        raise ExportFailed(f"learned, but these exports failed their gate: {', '.join(result.failed_exports)} "
                           "(see the manifests)")
