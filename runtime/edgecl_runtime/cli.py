"""``edgecl-rt``: build, verify, predict, bench and serve export bundles on a device.

Exit codes: 0 success; 1 the command could not do its job (invalid, unreadable or untrusted
bundle, verification failed, TensorRT missing, no image classified); 2 bad command-line usage
(Typer).

Trust: ``--trust KEY_OR_DIR`` makes verify/build/predict/bench refuse a bundle whose
``manifest.sig`` is missing or not made by one of the keys; without it they run as before and
print one warning line. The gate's thresholds are the runtime's (``--thresholds FILE`` lets the
operator of this device change them); a bundle's own are ignored.
``predict`` reports each bad image on its own stderr line (and in ``--json``) and still exits 0
when at least one image was classified: a folder with one stray file should not fail a batch.

No ``from __future__ import annotations`` here: Typer reads the ``Annotated`` parameter
metadata at runtime, and on Python 3.8 (JetPack 5) string annotations lose it.
"""
import json
import os
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .contract import CPU_ONLY_PRECISIONS, PRECISIONS
from .errors import RuntimeFailure

try:
    from typing import Annotated
except ImportError:  # Python 3.8 (JetPack 5 / TensorRT 8.5): typer depends on typing_extensions
    from typing_extensions import Annotated

app = typer.Typer(name="edgecl-rt", add_completion=False, no_args_is_help=True,
                  help="Torch-free device runtime for edgecl export bundles.")
out = Console(highlight=False, soft_wrap=True)


class BackendName(str, Enum):
    ort = "ort"
    trt = "trt"


Precision = Enum("Precision", {p: p for p in PRECISIONS}, type=str)  # the contract's precisions, one word each
_CPU_ONLY = CPU_ONLY_PRECISIONS[0]  # the ONNX Runtime CPU file: `build` names it only to refuse it


BundleArg = Annotated[Path, typer.Argument(help="Bundle folder (RUN/task-NN/export).")]
BackendOpt = Annotated[BackendName, typer.Option("--backend", "-b", help="Inference backend.")]
PrecisionOpt = Annotated[Precision, typer.Option("--precision", "-p", help="Model precision.")]
TrustOpt = Annotated[Optional[Path], typer.Option(
    "--trust", help="Public key file, or folder of *.pub keys: refuse bundles not signed by one of them.")]


SERVE_UNTRUSTED = ("edgecl-rt serve: warning: no --trust: signatures are not checked, so whoever can write to "
                   "MODELS_DIR can replace a model together with its golden set and it will pass the gate and be "
                   "served; pass --trust KEY (docs/THREAT_MODEL.md)")


def _trusted(trust: Optional[Path]) -> Optional[List[Any]]:
    """The trusted public keys, or None with one warning line when no --trust was given."""
    if trust is None:
        typer.echo("edgecl-rt: warning: bundle signatures are not checked (no --trust)", err=True)
        return None
    from .bundle.signing import load_trust

    return load_trust(trust)


AllowFailedOpt = Annotated[Optional[List[Precision]], typer.Option(
    "--allow-failed-format", help="Run this format although its export status is not passed "
                                  "(repeatable); without it such a format is refused.")]


def _allowed(formats: Optional[List[Any]]) -> List[str]:
    """The format names the operator lets run despite a failed export status."""
    return [f.value for f in formats or []]


ThresholdsOpt = Annotated[Optional[Path], typer.Option(
    "--thresholds", help="Operator's gate thresholds: JSON {precision: {key: value}} over the "
                         "runtime defaults (a bundle's own thresholds are ignored).")]


def _operator_thresholds(path: Optional[Path]) -> Optional[Dict[str, Any]]:
    """The --thresholds file's table, or None for the runtime defaults."""
    if path is None:
        return None
    from .bundle.verify import load_thresholds

    return load_thresholds(path)


def _error(msg: str) -> None:
    typer.echo(f"edgecl-rt: error: {' '.join(str(msg).split())}", err=True)


@contextmanager
def _failures() -> Iterator[None]:
    """Turn a RuntimeFailure (or a file this user may not read) into one stderr line, exit 1."""
    try:
        yield
    except RuntimeFailure as exc:
        _error(str(exc))
        raise typer.Exit(1) from None
    except PermissionError as exc:
        _error(f"cannot read {exc.filename or 'a file'}: permission denied; give the user running "
               "edgecl-rt read access to it")
        raise typer.Exit(1) from None


def _fmt(x: Any, spec: str = ".3g") -> str:
    return "-" if x is None else format(x, spec) if isinstance(x, float) else str(x)


def _print_verification(rec: Dict[str, Any]) -> None:
    from .bundle.gate import DEFAULT_THRESHOLDS

    thr = rec.get("thresholds") or DEFAULT_THRESHOLDS[rec["precision"]]
    gate = rec.get("gate") or {}
    table = Table(title=escape(f"verify {rec['bundle']} [{rec['backend']} {rec['precision']}]"))
    for col in ("check", "value", "limit", "result"):
        table.add_column(col)
    files = rec.get("files", {})
    table.add_row("sha256 of listed files", f"{files.get('checked', 0)} files", "all match",
                  "ok" if files.get("ok") else "FAIL")
    if gate:
        table.add_row("1: max |dlogit| (golden)", _fmt(gate["max_abs_diff"]),
                      f"<= {thr['max_abs_diff']:g}", "FAIL" if 1 in gate["failed_levels"] else "ok")
        table.add_row("2: top-1 agreement (golden)", _fmt(gate["top1_agreement"], ".4f"),
                      f">= {thr['top1_agreement']:g}", "FAIL" if 2 in gate["failed_levels"] else "ok")
    out.print(table)
    out.print(escape(f"device: {rec.get('device', {}).get('device', '-')}"))
    out.print("PASSED" if rec["passed"] else escape(f"FAILED: {rec['reason']}"))


@app.command()
def verify(bundle: BundleArg, backend: BackendOpt = BackendName.ort,
           precision: PrecisionOpt = Precision.fp32, trust: TrustOpt = None,
           thresholds: ThresholdsOpt = None, allow_failed: AllowFailedOpt = None,
           record: Annotated[Optional[Path], typer.Option(
               "--record", help="Write the record here (default: verification-*.json beside "
                                "the manifest; skipped with a line when not writable).")] = None,
           ) -> None:
    """Check sha256 of every file and the golden gate (levels 1-2); write verification-*.json."""
    from .bundle.verify import verify_bundle

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
           trust: TrustOpt = None, thresholds: ThresholdsOpt = None) -> None:
    """Rebuild task N's bundle from task M's and an over-the-air update; prove it byte-identical and gated."""
    from .update.apply import apply_update

    with _failures():
        report = apply_update(base, update_dir, new, trusted=_trusted(trust),
                              thresholds=_operator_thresholds(thresholds))
    gates = ", ".join(f"{p} passed" for p in report["gates"])
    whole = f"; shipped whole: {', '.join(report['whole'])}" if report["whole"] else ""
    out.print(escape(f"updated task {report['base_task']} -> {report['task']}: {report['out']} "
                     f"(every file matches the target sha256; golden gate: {gates}; "
                     f"{report['seconds']:.2f} s{whole})"))


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
          ) -> None:
    """Build a TensorRT plan on this device (kept in its plan store, sealed), then verify it."""
    from .bundle.read import load_bundle
    from .backends.trt.build import BuildOptions, build_engine, check_trt_precision, remove_plan
    from .backends.trt.plan_record import read_record
    from .backends.trt.plan_store import stored_plan_path
    from .backends.trt.compat import import_tensorrt
    from .backends.trt.dla import DlaSettings, check_dla
    from .bundle.verify import verify_bundle

    if fp16 and int8:
        _error("--fp16 and --int8 are exclusive; pick one (default fp32)")
        raise typer.Exit(2)
    precision = _CPU_ONLY if cpu_only else "fp16" if fp16 else "int8" if int8 else "fp32"  # CPU-only: refused below
    dla = DlaSettings(dla_core, gpu_fallback)
    if triton is not None and dla_core is not None:
        _error("--triton publishes a GPU plan (Triton's TensorRT backend sets no DLA core); drop --dla-core")
        raise typer.Exit(2)
    cache = cache_dir or Path(os.environ.get("EDGECL_RT_CACHE", Path.home() / ".cache/edgecl-rt"))
    with _failures():
        check_trt_precision(precision)
        check_dla(precision, dla)
        keys = _trusted(trust)
        table = _operator_thresholds(thresholds)
        checked = load_bundle(bundle, trusted=keys, allow_failed=_allowed(allow_failed))  # refused before TensorRT
        import_tensorrt()
        options = BuildOptions(max_batch, min(opt_batch, max_batch), workspace_mb, cache, save_engine, dla)
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
    from .backends.trt.triton_plan import TritonPlan, publish_plan

    run = str(checked.manifest.get("run") or "")
    with _failures():
        done = publish_plan(TritonPlan(repo, name or run or "edgecl", plan, meta, checked.task, checked.classes, run))
    out.print(escape(f"triton: {done['model']} (version {done['version']}, {done['config']})"))


def _stream(clf: Any, video: Optional[Path], camera: Optional[int], every: int, top_k: int) -> None:
    """Video/camera predictions as JSON lines; exit 1 when no frame could be classified."""
    from .predict.video import stream_predictions

    def emit(line: str) -> None:
        typer.echo(line)
        sys.stdout.flush()  # a consumer reads frame by frame

    with _failures():
        try:
            count = stream_predictions(clf, None if video is None else str(video), camera, every,
                                       top_k, emit)
        except KeyboardInterrupt:  # stopping a camera with Ctrl-C is the normal end
            return
        finally:
            clf.close()
    if count == 0:
        _error(f"no frame could be read from {video if video is not None else f'camera {camera}'}")
        raise typer.Exit(1)


def _one_source(images: Optional[List[Path]], video: Optional[Path], camera: Optional[int]) -> None:
    """Exactly one of IMAGES, --video, --camera (exit 2 otherwise)."""
    given = [name for name, v in (("IMAGES", images), ("--video", video), ("--camera", camera))
             if v not in (None, [])]
    if len(given) != 1:
        _error(f"give exactly one of IMAGES, --video FILE or --camera N (got "
               f"{', '.join(given) or 'none'})")
        raise typer.Exit(2)


@app.command()
def predict(bundle: BundleArg,
            images: Annotated[Optional[List[Path]], typer.Argument(help="Image files or folders.")] = None,
            top_k: Annotated[int, typer.Option("--top-k", "-k", min=1)] = 5,
            as_json: Annotated[bool, typer.Option("--json", help="JSON list on stdout.")] = False,
            backend: BackendOpt = BackendName.ort, precision: PrecisionOpt = Precision.fp32,
            trust: TrustOpt = None, allow_failed: AllowFailedOpt = None,
            video: Annotated[Optional[Path], typer.Option(
                "--video", help="Classify a video file's frames: one JSON line per frame (needs "
                                "the [video] extra).")] = None,
            camera: Annotated[Optional[int], typer.Option(
                "--camera", min=0, help="Classify camera N's frames until it stops or Ctrl-C.")] = None,
            every: Annotated[int, typer.Option(
                "--every", min=1, help="With --video/--camera: classify every K-th frame.")] = 1,
            ) -> None:
    """Classify images (bad items get one error line each, good ones are still classified), or
    the frames of a --video file or --camera."""
    from .bundle.read import load_bundle
    from .predict.classifier import Classifier

    _one_source(images, video, camera)
    allowed = _allowed(allow_failed)
    if not images:
        with _failures():
            clf = Classifier(load_bundle(bundle, trusted=_trusted(trust), allow_failed=allowed),
                             backend.value, precision.value)
        _stream(clf, video, camera, every, top_k)
        return
    with _failures():
        clf = Classifier(load_bundle(bundle, trusted=_trusted(trust), allow_failed=allowed),
                         backend.value, precision.value)
        records = clf.classify([str(p) for p in images], top_k)
    for rec in records:
        if "error" in rec:
            _error(rec["error"])
    if as_json:
        typer.echo(json.dumps({"task": clf.task, "results": records}, indent=2))
    else:
        _print_predictions(records)
    if not any("predictions" in r for r in records):
        _error("no image could be classified")
        raise typer.Exit(1)


def _print_predictions(records: List[Dict[str, Any]]) -> None:
    table = Table()
    for col in ("input", "class", "probability", "others"):
        table.add_column(col)
    for rec in records:
        if "predictions" in rec:
            best, *rest = rec["predictions"]
            others = ", ".join(f"{p['class']} {p['probability']:.3f}" for p in rest)
            table.add_row(escape(rec["input"]), escape(best["class"]),
                          f"{best['probability']:.4f}", escape(others))
        else:
            table.add_row(escape(rec["input"]), "[red]error[/red]", "-", "")
    out.print(table)


@app.command()
def bench(bundle: BundleArg, backend: BackendOpt = BackendName.ort,
          precision: PrecisionOpt = Precision.fp32,
          batch: Annotated[int, typer.Option("--batch", min=1)] = 1,
          iters: Annotated[int, typer.Option("--iters", min=1)] = 100,
          warmup: Annotated[int, typer.Option("--warmup", min=0)] = 10,
          trust: TrustOpt = None, allow_failed: AllowFailedOpt = None) -> None:
    """Latency percentiles and throughput on synthetic inputs."""
    from .backends import open_backend
    from .predict.bench import benchmark
    from .bundle.read import load_bundle
    from .inputs.preprocess import spec_chw

    with _failures():
        b = load_bundle(bundle, trusted=_trusted(trust), allow_failed=_allowed(allow_failed))
        engine = open_backend(b, backend.value, precision.value)
        try:
            info = engine.describe()
            stats = benchmark(engine, spec_chw(b.input_spec), batch, iters, warmup)
        finally:
            engine.close()
    table = Table(title=escape(f"bench {bundle}"))
    table.add_column("field")
    table.add_column("value")
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
    for key, value in (("backend", info["backend"]), ("precision", info["precision"]),
                       ("device", info.get("device", "-")), ("versions", versions),
                       ("edgecl-rt", __version__), ("batch", batch), ("iters", iters),
                       ("p50 ms", f"{stats['p50_ms']:.3f}"), ("p95 ms", f"{stats['p95_ms']:.3f}"),
                       ("p99 ms", f"{stats['p99_ms']:.3f}"), ("mean ms", f"{stats['mean_ms']:.3f}"),
                       ("throughput img/s", f"{stats['throughput_ips']:.1f}")):
        table.add_row(key, escape(str(value)))
    out.print(table)


@app.command()
def serve(models_dir: Annotated[Path, typer.Argument(help="Run folder or folder of bundles.")],
          backend: BackendOpt = BackendName.ort, precision: PrecisionOpt = Precision.fp32,
          top_k: Annotated[int, typer.Option("--top-k", "-k", min=1)] = 5,
          poll_s: Annotated[float, typer.Option("--poll-s", min=0.05)] = 2.0,
          allow: Annotated[Optional[List[Path]], typer.Option(
              "--allow", exists=True, file_okay=False,
              help="Folder requests may read images from (repeatable); default: the current folder "
                   "(refused when that is /).")] = None,
          max_images: Annotated[int, typer.Option(
              "--max-images", min=1, help="Most image paths one request may name.")] = 64,
          max_line_bytes: Annotated[int, typer.Option(
              "--max-line-bytes", min=256, help="Longest request line; longer ones get an error.")] = 1 << 20,
          trust: TrustOpt = None, allow_failed: AllowFailedOpt = None) -> None:
    """JSON-lines server on stdin/stdout; hot-swaps to newer verified task bundles of the run it
    started with.

    Image paths must be files inside an --allow folder (no folder expansion; started in / the
    --allow is required); every request line gets one answer, bad ones an error object, and the
    server keeps serving. Without --trust one warning line says what is then not protected.
    """
    from .serve.server import ModelServer

    if trust is None:
        typer.echo(SERVE_UNTRUSTED, err=True)
    with _failures():
        keys = None if trust is None else _trusted(trust)
        server = ModelServer(models_dir, backend.value, precision.value, top_k, poll_s,
                             allow=allow, max_images=max_images, max_line_bytes=max_line_bytes,
                             trusted=keys, allow_failed=_allowed(allow_failed))
        server.start()
    try:
        server.serve(sys.stdin.buffer, sys.stdout)
    finally:
        server.stop()


@app.command()
def version() -> None:
    """Print the runtime version."""
    typer.echo(f"edgecl-rt {__version__}")


def main() -> None:
    """Console-script entry point."""
    app()
