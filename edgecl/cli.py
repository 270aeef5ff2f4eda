"""The ``edgecl`` command line (Typer)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .console import one_line_errors

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Continual learning (InfLoRA) for edge devices: learn task by task, export, verify.")

RunOpt = Annotated[Path, typer.Option("--run", "--run-dir", help="Run folder (one per run). Under torchrun use --run-dir (torchrun claims --run).")]
DEFAULT_RUN = Path("models/default")


@app.command()
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
    lr: Annotated[Optional[float], typer.Option(help="Adam learning rate.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Training batch size.")] = None,
    lam: Annotated[Optional[float], typer.Option("--lambda", help="Memory threshold start lambda.")] = None,
    method: Annotated[Optional[str], typer.Option(help="inflora | seqlora")] = None,
    blocks: Annotated[Optional[int], typer.Option(help="Adapt only the first n blocks.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed (data order, heads, augmentation).")] = None,
    shuffle_classes: Annotated[Optional[bool], typer.Option("--shuffle-classes", help="Shuffle the class order with the seed.")] = None,
    augment: Annotated[Optional[str], typer.Option(help="none | shift | crop-flip")] = None,
    align: Annotated[Optional[str], typer.Option(help="Classifier alignment after each task: none | ca.")] = None,
    ca_cov: Annotated[Optional[str], typer.Option(help="CA covariance storage: full | diag | shared.")] = None,
    ca_logit_norm: Annotated[Optional[bool], typer.Option("--ca-logit-norm", help="CA with logit normalisation (tau 0.1).")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda (auto = CUDA when present).")] = "auto",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch.")] = None,
    amp: Annotated[str, typer.Option(help="Training autocast: none | bf16 (CUDA).")] = "none",
    export: Annotated[bool, typer.Option("--export/--no-export", help="Export a bundle after each task.")] = True,
    formats: Annotated[Optional[str], typer.Option(help="Formats exported after each task, e.g. fp16,int8,trt (FP32 always; 'none' for FP32 only).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Learn task N (or the next, or all) on top of the tasks before it, merge, save and measure."""
    from .learn_command import run_learn

    options = dict(dataset=dataset, data_root=data_root, model=model, weights=weights, tasks=tasks, rank=rank,
                   epochs=epochs, lr=lr, batch_size=batch_size, lam=lam, method=method, blocks=blocks, seed=seed,
                   shuffle_classes=shuffle_classes, augment=augment, align=align, ca_cov=ca_cov,
                   ca_logit_norm=ca_logit_norm,
                   export_formats=None if formats is None else [f for f in formats.split(",") if f and f != "none"])
    run_learn(run, task, all_tasks, force, config, options, device, threads, export, quiet, amp)


@app.command()
@one_line_errors
def status(run: RunOpt = DEFAULT_RUN) -> None:
    """Tasks done, metrics so far, and what is next."""
    from .learn_command import show_status

    show_status(run)


@app.command()
@one_line_errors
def export(
    run: RunOpt = DEFAULT_RUN,
    task: Annotated[Optional[int], typer.Option(help="Task to export (default: the latest finished).")] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Also FP16 ONNX (LayerNorm/Softmax kept FP32).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Also INT8 ONNX (QDQ, symmetric, calibrated).")] = False,
    trt: Annotated[bool, typer.Option("--trt", help="Also a TensorRT engine (needs TensorRT: on the device).")] = False,
    opset: Annotated[Optional[int], typer.Option(help="ONNX opset: 17 (JetPack 6/7), 16 (JetPack 5).")] = None,
    max_batch: Annotated[Optional[int], typer.Option(help="Largest batch of the TensorRT profile.")] = None,
) -> None:
    """Export a finished task as a bundle (ONNX FP32 always) behind the parity gate; exit 1 if a format fails."""
    from .export_command import run_export

    formats = {name for name, on in (("fp16", fp16), ("int8", int8), ("trt", trt)) if on}
    run_export(run, task, formats, opset, max_batch)


def _register_optional() -> None:
    from .pretrain_cli import pretrain_command
    from .report_cli import report_command

    app.command("pretrain")(one_line_errors(pretrain_command))
    app.command("report")(report_command)


_register_optional()


def main() -> None:
    app()
