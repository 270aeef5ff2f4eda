"""``edgecl export``: export a finished task as a bundle behind the parity gate, print the gate.

The work is :func:`edgecl.export`; this module turns the flags into its arguments and prints what it
reports (:class:`PrintedExport`), then the exit code."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import edgecl
from edgecl.cli.console import DEFAULT_RUN, RunOpt, console, one_line_errors, print_manifest
from edgecl.errors import ExportFailed
from edgecl.exporting import ExportEvents, failed_formats
from edgecl.run.bundles import missing_exports
from edgecl.updating import update_folder, update_size
from edgecl_runtime.contract import REQUESTS, SIGNATURE_NAME


FORMATS_HELP = ("Formats besides FP32: a set (fp16,int8,int8cpu,trt; 'none': FP32 only) or changes to the run's "
                "(+trt,-int8cpu). Default: the run's formats and every format the bundle already ships; dropping "
                "a shipped format takes naming it (-int8cpu).")


@one_line_errors
def export(
    run: RunOpt = DEFAULT_RUN,
    task: Annotated[Optional[int], typer.Option(help="Task to export (default: the latest finished).")] = None,
    formats: Annotated[Optional[str], typer.Option("--formats", help=FORMATS_HELP)] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Same as --formats +fp16 (FP16 ONNX, LayerNorm/Softmax kept FP32).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Same as --formats +int8 (INT8 ONNX: QDQ, symmetric, calibrated).")] = False,
    int8cpu: Annotated[bool, typer.Option("--int8cpu", help="Same as --formats +int8cpu (CPU INT8 ONNX for ONNX Runtime).")] = False,
    int8_calibration: Annotated[Optional[str], typer.Option(help="INT8 activation ranges for this export: minmax | percentile | entropy (default: the run's).")] = None,
    trt: Annotated[bool, typer.Option("--trt", help="Same as --formats +trt (TensorRT engine; needs TensorRT: on the device).")] = False,
    opset: Annotated[Optional[int], typer.Option(help="ONNX opset: 17 (JetPack 6/7), 16 (JetPack 5).")] = None,
    max_batch: Annotated[Optional[int], typer.Option(help="Largest batch of the TensorRT profile.")] = None,
    sign_key: Annotated[Optional[Path], typer.Option(help="Ed25519 private key (`edgecl keygen`) to sign the bundle with (default: the run's key, if it has one).")] = None,
    triton: Annotated[Optional[Path], typer.Option(help="Triton model repository: publish the task as version N of REPO/NAME (FP32 gate must pass).")] = None,
    triton_model: Annotated[Optional[str], typer.Option("--triton-name", help="Triton model name (default: the run's folder name).")] = None,
    update_from: Annotated[Optional[int], typer.Option("--update-from", help="Also write an over-the-air update from task M's bundle: RUN/task-NN/update-from-MM/ (`edgecl-rt update`).")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads for torch (reference logits, calibration).")] = None,
) -> None:
    """Export a finished task as a bundle (ONNX FP32 always) behind the parity gate; exit 1 if a format fails."""
    flags = locals()  # an alias flag's parameter is named by its request word (the contract's REQUESTS)
    aliases = [f"+{name}" for name in REQUESTS if flags.get(name)]
    choice = ",".join(([formats] if formats is not None else []) + aliases) if formats is not None or aliases else None
    printed = PrintedExport()
    manifest = edgecl.export(run, task=task, formats=choice, opset=opset, max_batch=max_batch, triton=triton,
                             triton_name=triton_model, sign_key=sign_key, update_from=update_from,
                             int8_calibration=int8_calibration, threads=threads, events=printed)
    missing = missing_exports(printed.run.store)
    if missing:
        console.print(f"tasks {missing} still have no bundle (interrupted export): `edgecl export --task N` "
                      "or the next `edgecl learn` exports them")
    failed = failed_formats(manifest)
    if failed:
        raise ExportFailed(f"formats failed their gate or export: {', '.join(failed)} (see manifest.json)")


class PrintedExport(ExportEvents):
    """Prints the gate table and the bundle, Triton and update lines as :func:`edgecl.export` goes."""

    run = None
    plan = None

    def planned(self, run, plan) -> None:
        self.plan = plan  # printed with the bundle: a refusal before the export stays one line

    def exported(self, run, manifest: dict) -> None:
        self.run = run
        if self.plan is not None:
            console.print(self.plan.line(), highlight=False, soft_wrap=True)
        print_manifest(manifest)
        bundle = run.store.task_dir(manifest['task']) / 'export'
        signed = (bundle / SIGNATURE_NAME).is_file()
        console.print(f"bundle: {bundle}" + (f" (signed: {SIGNATURE_NAME})" if signed else " (not signed)"))

    def published(self, triton: dict) -> None:
        console.print(f"triton: {triton['model']} (model {triton['name']!r}, version {triton['version']})")

    def updated(self, run, update: dict) -> None:
        print_update(run, update)

    def notice(self, line: str) -> None:
        console.print(f"note: {line}", highlight=False, soft_wrap=True)


def print_update(run, update: dict) -> None:
    """One line per update: where, how big against the full bundle, which ONNX files travel whole."""
    folder = update_folder(run, update["task"], update["base_task"])
    size, full = update_size(folder, update)
    whole = [n for n, s in update["onnx"].items() if s["whole"]]
    signed = (folder / "update.sig").is_file()
    console.print(f"update: {folder} ({size:,} bytes, {100 * size / max(full, 1):.1f} % of the full bundle's "
                  f"{full:,}; {'signed' if signed else 'not signed'})"
                  + (f"; shipped whole: {', '.join(whole)}" if whole else ""))
