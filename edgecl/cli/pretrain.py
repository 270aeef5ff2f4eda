"""``edgecl pretrain``: make a backbone file that ``--weights`` accepts.

The shipped ``edgecl/assets/backbone.safetensors`` is what the defaults make (its exact, explicit
command is in ``backbone.json["command"]``; deterministic for a seed at a fixed thread count,
checked by the tests on a tiny config, the 21-min shipped run itself was not repeated)::

    edgecl pretrain --out edgecl/assets/backbone.safetensors --threads 1
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Optional

import torch
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from edgecl.cli.console import console, one_line_errors
from edgecl.errors import UsageError
from edgecl.pretrain.train import DEFAULT_KWARGS, pretrain
from edgecl.threads import checked_threads, use_threads


@one_line_errors
def pretrain_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .safetensors (a .json sidecar is written next to it).")] = Path("backbone.safetensors"),
    model: Annotated[str, typer.Option("--model", help="timm ViT name (fused qkv), e.g. vit_tiny_patch16_224.")] = "vit_tiny_patch16_224",
    model_kwargs: Annotated[Optional[str], typer.Option("--model-kwargs", help="JSON overrides for timm.create_model; default: the shipped 28 px patch-7 ViT.")] = None,
    source: Annotated[str, typer.Option("--source", help="glyphs (synthetic strokes, no digits) | fashion-mnist.")] = "glyphs",
    method: Annotated[str, typer.Option("--method", help="supervised | simclr.")] = "supervised",
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Epochs of --samples-per-epoch images.")] = 8,
    samples_per_epoch: Annotated[int, typer.Option("--samples-per-epoch", min=1, help="Images per epoch (the glyph source is unlimited).")] = 25_000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 128,
    lr: Annotated[float, typer.Option("--lr", help="Peak AdamW learning rate (cosine schedule).")] = 1e-3,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    stroke_classes: Annotated[int, typer.Option("--stroke-classes", help="Random Bezier shape classes added to the font classes.")] = 400,
    threads: Annotated[Optional[int], typer.Option("--threads", help="torch CPU threads (results are bitwise reproducible at a fixed count).")] = None,
    data_root: Annotated[Optional[str], typer.Option("--data-root", help="IDX folder for fashion-mnist / the MNIST probe (default: installed packages).")] = None,
    probe: Annotated[bool, typer.Option("--probe/--no-probe", help="Score frozen features on MNIST train (linear, NCM, Gaussian).")] = True,
) -> None:
    """Pre-train a small ViT backbone on a source disjoint from the stream and write it."""
    use_threads(checked_threads(threads))
    try:
        kwargs = dict(DEFAULT_KWARGS) if model_kwargs is None else json.loads(model_kwargs)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--model-kwargs is not JSON: {exc}") from None
    # the exact, fully explicit command (every option spelled out, defaults included)
    parts = ["edgecl", "pretrain", "--out", str(out), "--model", model, "--model-kwargs", json.dumps(kwargs, sort_keys=True),
             "--source", source, "--method", method, "--epochs", str(epochs), "--samples-per-epoch", str(samples_per_epoch),
             "--batch-size", str(batch_size), "--lr", repr(lr), "--seed", str(seed), "--stroke-classes", str(stroke_classes),
             "--threads", str(torch.get_num_threads())]
    command = " ".join(shlex.quote(a) for a in parts)
    with Progress(TextColumn("[bold]pretrain"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.3f}"),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("train", total=1, loss=float("nan"))

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=loss)

        info = pretrain(out, model_name=model, model_kwargs=kwargs, source=source, epochs=epochs,
                        batch_size=batch_size, lr=lr, seed=seed, method=method,
                        samples_per_epoch=samples_per_epoch, stroke_classes=stroke_classes,
                        probe=probe, data_root=data_root, command=command, progress=progress)
    console.print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, sha256 {info['sha256'][:12]}) + {out.with_suffix('.json')}")
    for name, res in info["probe"].items():
        if isinstance(res, dict):
            console.print(f"  probe {name:12s} " + "  ".join(f"{k} {v:.3f}" for k, v in res.items()))
