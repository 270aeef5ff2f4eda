"""``edgecl-rt verify``, ``update`` and ``build``: check a bundle, apply an update, build a TensorRT plan.

No ``from __future__ import annotations`` here: Typer reads the ``Annotated`` parameter
metadata at runtime, and on Python 3.8 (JetPack 5) string annotations lose it.
"""
from pathlib import Path
from typing import Any, Dict, Optional

import typer
from rich.markup import escape

from ._common import (AllowFailedOpt, Annotated, BackendName, BackendOpt, BundleArg, Precision, PrecisionOpt, ThresholdsOpt, TrustOpt, _CPU_ONLY, _allowed, _error, _failures, _operator_thresholds, _print_verification, _timing_cache_dir, _trusted, app, out)


@app.command()
def verify(bundle: BundleArg, backend: BackendOpt = BackendName.ort,
           precision: PrecisionOpt = Precision.fp32, trust: TrustOpt = None,
           thresholds: ThresholdsOpt = None, allow_failed: AllowFailedOpt = None,
           record: Annotated[Optional[Path], typer.Option(
               "--record", help="Write the record here (default: verification-*.json beside "
                                "the manifest; skipped with a line when not writable).")] = None,
           ) -> None:
    """Check sha256 of every file and the golden gate (levels 1-2); write verification-*.json."""
    from ..bundle.verify import verify_bundle

    with _failures():
        keys = _trusted(trust)
        rec = verify_bundle(bundle, backend.value, precision.value, _operator_thresholds(thresholds),
                            trusted=keys, record=record, allow_failed=_allowed(allow_failed))
    _print_verification(rec)
    if rec.get("record"):
        out.print(escape(f"record: {rec['record']}"))
    else:
        typer.echo(f"edgecl-rt: warning: {rec.get('record_error', 'record not written')}", err=True)
    if not rec["passed"]:
        raise typer.Exit(1)


@app.command()
def update(base: Annotated[Path, typer.Argument(help="Base bundle folder (RUN/task-MM/export).")],
           update_dir: Annotated[Path, typer.Argument(help="Update folder (RUN/task-NN/update-from-MM).")],
           new: Annotated[Path, typer.Option("--out", help="New bundle folder to write (must not exist).")],
           trust: TrustOpt = None, thresholds: ThresholdsOpt = None,
           engine: Annotated[Optional[Path], typer.Option(
               "--engine", help="This device's TensorRT plan for the base bundle: refit it with the new "
                                "weights (built with --refittable), else build a new one; gated either way.")] = None,
           ) -> None:
    """Rebuild task N's bundle from task M's and an over-the-air update; prove it byte-identical and gated."""
    from ..update.apply import apply_update

    with _failures():
        keys, table = _trusted(trust), _operator_thresholds(thresholds)
        record = _engine_record(engine) if engine is not None else None  # refused before anything is written
        report = apply_update(base, update_dir, new, trusted=keys, thresholds=table)
    gates = ", ".join(f"{p} passed" for p in report["gates"])
    whole = f"; shipped whole: {', '.join(report['whole'])}" if report["whole"] else ""
    out.print(escape(f"updated task {report['base_task']} -> {report['task']}: {report['out']} "
                     f"(every file matches the target sha256; golden gate: {gates}; "
                     f"{report['seconds']:.2f} s{whole})"))
    if engine is not None and record is not None:
        from ._engine import carry_engine

        with _failures():
            carry_engine(base, new, engine, record, (keys, table))


def _engine_record(plan: Path) -> Dict[str, Any]:
    """The sealed record of this device's plan ``plan``, read before an update touches anything."""
    from ..backends.trt.compat import import_tensorrt
    from ..backends.trt.plan_record import read_record
    from ..backends.trt.plan_store import check_seal

    import_tensorrt()
    record = read_record(plan)
    check_seal(record, str(plan))
    return record


@app.command()
def build(bundle: BundleArg,
          fp16: Annotated[bool, typer.Option("--fp16", help="Build an FP16 engine.")] = False,
          int8: Annotated[bool, typer.Option("--int8", help="Build from the INT8 Q/DQ model.")] = False,
          cpu_only: Annotated[bool, typer.Option(f"--{_CPU_ONLY}", hidden=True,
                                                 help="Refused: ONNX Runtime's CPU file is not for TensorRT.")] = False,
          max_batch: Annotated[int, typer.Option("--max-batch", min=1)] = 8,
          opt_batch: Annotated[int, typer.Option("--opt-batch", min=1)] = 1,
          workspace_mb: Annotated[int, typer.Option("--workspace-mb", min=16)] = 1024,
          cache_dir: Annotated[Optional[Path], typer.Option(
              "--timing-cache-dir", help="Default: $EDGECL_RT_CACHE or ~/.cache/edgecl-rt")] = None,
          trust: TrustOpt = None, thresholds: ThresholdsOpt = None, allow_failed: AllowFailedOpt = None,
          save_engine: Annotated[Optional[Path], typer.Option(
              "--save-engine", help="Also write the plan here (its .json record beside it) for "
                                    "trtexec, DeepStream or Triton; the runtime keeps its own copy.")] = None,
          dla_core: Annotated[Optional[int], typer.Option(
              "--dla-core", help="Build for this DLA core (Jetson Orin/Xavier); needs --fp16 "
                                 "or --int8.")] = None,
          gpu_fallback: Annotated[bool, typer.Option(
              "--gpu-fallback", help="With --dla-core: run layers the DLA cannot on the GPU.")] = False,
          triton: Annotated[Optional[Path], typer.Option(
              "--triton", help="After the gate passed, publish the plan as version N (the task) of a "
                               "Triton tensorrt_plan model in this repository.")] = None,
          triton_name: Annotated[Optional[str], typer.Option(
              "--triton-name", help="Triton model name (default: the bundle's run name).")] = None,
          refittable: Annotated[bool, typer.Option(
              "--refittable", help="Build an engine that `update --engine` refits with the next task's "
                                   "weights instead of rebuilding (head padded to --head-capacity).")] = False,
          head_capacity: Annotated[int, typer.Option(
              "--head-capacity", min=1, max=100_000,
              help="With --refittable: classes the engine's head has room for.")] = 256,
          ) -> None:
    """Build a TensorRT plan on this device (kept in its plan store, sealed), then verify it."""
    from ..bundle.read import load_bundle
    from ..backends.trt.build import BuildOptions, build_engine, check_trt_precision, remove_plan
    from ..backends.trt.plan_record import read_record
    from ..backends.trt.plan_store import stored_plan_path
    from ..backends.trt.compat import import_tensorrt
    from ..backends.trt.dla import DlaSettings, check_dla
    from ..bundle.verify import verify_bundle

    if fp16 and int8:
        _error("--fp16 and --int8 are exclusive; pick one (default fp32)")
        raise typer.Exit(2)
    precision = _CPU_ONLY if cpu_only else "fp16" if fp16 else "int8" if int8 else "fp32"  # CPU-only: refused below
    dla = DlaSettings(dla_core, gpu_fallback)
    if triton is not None and refittable:
        _error("--triton publishes a plan whose output is the bundle's classes; a --refittable engine outputs "
               "--head-capacity logits: build the Triton plan without --refittable")
        raise typer.Exit(2)
    if triton is not None and dla_core is not None:
        _error("--triton publishes a GPU plan (Triton's TensorRT backend sets no DLA core); drop --dla-core")
        raise typer.Exit(2)
    cache = _timing_cache_dir(cache_dir)
    with _failures():
        check_trt_precision(precision)
        check_dla(precision, dla)
        keys = _trusted(trust)
        table = _operator_thresholds(thresholds)
        checked = load_bundle(bundle, trusted=keys, allow_failed=_allowed(allow_failed))  # refused before TensorRT
        import_tensorrt()
        options = BuildOptions(max_batch, min(opt_batch, max_batch), workspace_mb, cache, save_engine, dla,
                               refittable=refittable, head_capacity=head_capacity)
        path = build_engine(checked, precision, options, log=lambda s: typer.echo(s, err=True))
        meta = read_record(path)
        out.print(f"engine: {path}" + ("" if dla.core is None else
                                       f" (DLA core {dla.core}: {meta['dla_layers']} of {meta['layers']} layers)"))
        rec = verify_bundle(bundle, "trt", precision, table, trusted=keys, engine=path,
                            allow_failed=_allowed(allow_failed))
    _print_verification(rec)
    if not rec["passed"]:
        remove_plan(path)
        remove_plan(stored_plan_path(meta["onnx_sha256"], meta["precision"], meta.get("dla_core")))
        _error(f"the {precision} engine failed verification and was deleted: {rec['reason']}")
        raise typer.Exit(1)
    if triton is not None:
        _publish_triton(checked, path, meta, triton, triton_name)


def _publish_triton(checked: Any, plan: Path, meta: Dict[str, Any], repo: Path, name: Optional[str]) -> None:
    """``build --triton``: the verified plan as a tensorrt_plan model version."""
    from ..backends.trt.triton_plan import TritonPlan, publish_plan

    run = str(checked.manifest.get("run") or "")
    with _failures():
        done = publish_plan(TritonPlan(repo, name or run or "edgecl", plan, meta, checked.task, checked.classes, run))
    out.print(escape(f"triton: {done['model']} (version {done['version']}, {done['config']})"))


