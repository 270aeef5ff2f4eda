"""``edgecl export``: export a finished task as a bundle behind the parity gate, print the gate."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecl.cli.console import DEFAULT_RUN, RunOpt, console, one_line_errors, print_manifest
from edgecl.errors import ExportFailed
from edgecl.exporting import export_run_task, failed_formats
from edgecl.run.bundles import missing_exports
from edgecl.run.run import open_run
from edgecl.updating import check_update_request, export_run_update, update_folder
from edgecl.triton_publish import check_repo, publish_task, triton_name
from edgecl_runtime.contract import REQUESTS, SIGNATURE_NAME


@one_line_errors
def export(
    run: RunOpt = DEFAULT_RUN,
    task: Annotated[Optional[int], typer.Option(help="Task to export (default: the latest finished).")] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Also FP16 ONNX (LayerNorm/Softmax kept FP32).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Also INT8 ONNX (QDQ, symmetric, calibrated).")] = False,
    int8cpu: Annotated[bool, typer.Option("--int8cpu", help="Also the CPU INT8 ONNX for ONNX Runtime (dynamic quantisation, no calibration; TensorRT uses --int8).")] = False,
    int8_calibration: Annotated[Optional[str], typer.Option(help="INT8 activation ranges for this export: minmax | percentile | entropy (default: the run's).")] = None,
    trt: Annotated[bool, typer.Option("--trt", help="Also a TensorRT engine (needs TensorRT: on the device).")] = False,
    opset: Annotated[Optional[int], typer.Option(help="ONNX opset: 17 (JetPack 6/7), 16 (JetPack 5).")] = None,
    max_batch: Annotated[Optional[int], typer.Option(help="Largest batch of the TensorRT profile.")] = None,
    sign_key: Annotated[Optional[Path], typer.Option(help="Ed25519 private key (`edgecl keygen`) to sign the bundle with (default: the run's key, if it has one).")] = None,
    triton: Annotated[Optional[Path], typer.Option(help="Triton model repository: publish the task as version N of REPO/NAME (FP32 gate must pass).")] = None,
    triton_model: Annotated[Optional[str], typer.Option("--triton-name", help="Triton model name (default: the run's folder name).")] = None,
    update_from: Annotated[Optional[int], typer.Option("--update-from", help="Also write an over-the-air update from task M's bundle: RUN/task-NN/update-from-MM/ (`edgecl-rt update`).")] = None,
) -> None:
    """Export a finished task as a bundle (ONNX FP32 always) behind the parity gate; exit 1 if a format fails."""
    flags = {"fp16": fp16, "int8": int8, "int8cpu": int8cpu, "trt": trt}
    formats = {name for name in REQUESTS if flags.get(name)}
    opened = open_run(run)
    if triton is not None:  # names and folder checked before any export work
        triton_name(opened, triton_model), check_repo(triton)
    if update_from is not None:  # a bad base is refused before the export
        check_update_request(opened, task, update_from)
    manifest = export_run_task(opened, task, formats, opset, max_batch, sign_key, int8_calibration)
    print_manifest(manifest)
    bundle = opened.store.task_dir(manifest['task']) / 'export'
    signed = (bundle / SIGNATURE_NAME).is_file()
    console.print(f"bundle: {bundle}" + (f" (signed: {SIGNATURE_NAME})" if signed else " (not signed)"))
    if triton is not None:
        done = publish_task(opened, manifest, triton, triton_model)
        console.print(f"triton: {done['model']} (model {done['name']!r}, version {done['version']})")
    if update_from is not None:
        update = export_run_update(opened, manifest["task"], update_from, sign_key)
        print_update(opened, update)
    missing = missing_exports(opened.store)
    if missing:
        console.print(f"tasks {missing} still have no bundle (interrupted export): `edgecl export --task N` "
                      "or the next `edgecl learn` exports them")
    failed = failed_formats(manifest)
    if failed:
        raise ExportFailed(f"formats failed their gate or export: {', '.join(failed)} (see manifest.json)")


def print_update(run, update: dict) -> None:
    """One line per update: where, how big against the full bundle, which ONNX files travel whole."""
    folder = update_folder(run, update["task"], update["base_task"])
    size = sum(e["bytes"] for e in update["contents"].values())
    full = sum(p.stat().st_size for p in (folder.parent / "export").rglob("*") if p.is_file())
    whole = [n for n, s in update["onnx"].items() if s["whole"]]
    signed = (folder / "update.sig").is_file()
    console.print(f"update: {folder} ({size:,} bytes, {100 * size / max(full, 1):.1f} % of the full bundle's "
                  f"{full:,}; {'signed' if signed else 'not signed'})"
                  + (f"; shipped whole: {', '.join(whole)}" if whole else ""))
