"""``edgecl-rt predict``, ``bench`` and ``serve``: run a checked bundle on images, a video or a request stream.

No ``from __future__ import annotations`` here: Typer reads the ``Annotated`` parameter
metadata at runtime, and on Python 3.8 (JetPack 5) string annotations lose it.
"""
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .. import __version__
from ._common import (AllowFailedOpt, Annotated, BackendName, BackendOpt, BundleArg, Precision, PrecisionOpt, SERVE_UNTRUSTED, TrustOpt, _allowed, _error, _failures, _trusted, app, out)


def _stream(clf: Any, video: Optional[Path], camera: Optional[int], every: int, top_k: int) -> None:
    """Video/camera predictions as JSON lines; exit 1 when no frame could be classified."""
    from ..predict.video import stream_predictions

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
    from ..bundle.read import load_bundle
    from ..predict.classifier import Classifier

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
          trust: TrustOpt = None, allow_failed: AllowFailedOpt = None,
          threads: Annotated[int, typer.Option(
              "--threads", min=0, help="ONNX Runtime intra-op threads (0: its default); the GEMM "
                                       "probe uses the same.")] = 0,
          roofline: Annotated[bool, typer.Option(
              "--roofline/--no-roofline", help="Model FLOPs, achieved GFLOP/s and the fraction of "
                                               "this machine's GEMM peak (ONNX Runtime CPU).")] = True,
          record: Annotated[Optional[Path], typer.Option(
              "--record", help="Write the record here (default: bench-<backend>-<precision>-b<batch>"
                               ".json beside the manifest).")] = None) -> None:
    """Latency percentiles, throughput and the roofline on synthetic inputs; writes a bench record."""
    from ..backends import open_backend
    from ..predict.bench import benchmark, with_roofline
    from ..bundle.read import load_bundle
    from ..inputs.preprocess import spec_chw

    with _failures():
        b = load_bundle(bundle, trusted=_trusted(trust), allow_failed=_allowed(allow_failed))
        options = {"threads": threads} if backend.value == "ort" and threads else {}
        engine = open_backend(b, backend.value, precision.value, **options)
        try:
            info = engine.describe()
            stats = benchmark(engine, spec_chw(b.input_spec), batch, iters, warmup)
        finally:
            engine.close()
        stats = _roofline(b, info, precision.value, batch, threads, stats) if roofline else with_roofline(stats, None, None)
    rec = {"edgecl_rt": __version__, "bundle": str(bundle), **info, "threads": threads, **stats}
    _write_bench_record(record or Path(bundle) / f"bench-{backend.value}-{precision.value}-b{batch}.json", rec)
    _print_bench(bundle, rec)


def _roofline(b: Any, info: Dict[str, Any], precision: str, batch: int, threads: int,
              stats: Dict[str, Any]) -> Dict[str, Any]:
    """``stats`` with the roofline; the GEMM probes only where the model ran on ONNX Runtime's CPU.

    An INT8 file also gets ``roofline_fraction``: its integer and float FLOPs each against the peak
    of their own precision (a second, float probe), since attention stays float in it."""
    from ..inputs.preprocess import spec_chw
    from ..predict.bench import model_flops_split, with_roofline
    from ..predict.gemm_probe import gemm_peak
    from ..predict.roofline import roofline_fraction

    split = model_flops_split(b.onnx_bytes(precision), spec_chw(b.input_spec), batch)
    flops = None if split is None else sum(split.values())
    peak = float_peak = None
    chunk = stats["p50_ms"] / 1e3
    integer = precision in ("int8", "int8cpu")
    if flops is not None and info.get("backend") == "ort" and (info.get("providers") or ["CPU"])[0].startswith("CPU"):
        peak = gemm_peak(precision, threads, chunk_s=chunk)
        float_peak = gemm_peak("fp32", threads, chunk_s=chunk) if integer and split["float"] else (None if integer else peak)
    rec = with_roofline(stats, flops, peak)
    peaks = {"int8": peak["gflops"] if peak and integer else None,
             "float": float_peak["gflops"] if float_peak else None}
    rec["float_peak_gflops"] = peaks["float"]
    rec["roofline_fraction"] = roofline_fraction(split, chunk, peaks) if peak else None
    return rec


def _write_bench_record(path: Path, rec: Dict[str, Any]) -> None:
    """The bench record as JSON; a folder this user cannot write gets a warning, not a failure."""
    from ..atomic_io import write_json_atomic

    try:
        write_json_atomic(path, rec)
    except OSError as exc:
        _error(f"bench record not written to {path} ({exc.strerror or exc})")


def _print_bench(bundle: Path, rec: Dict[str, Any]) -> None:
    table = Table(title=escape(f"bench {bundle}"))
    table.add_column("field")
    table.add_column("value")
    versions = ", ".join(f"{k} {v}" for k, v in rec.get("versions", {}).items())

    def num(key: str, fmt: str) -> str:
        return "-" if rec.get(key) is None else format(rec[key], fmt)

    frac = "-" if rec.get("peak_fraction") is None else f"{100 * rec['peak_fraction']:.1f} %"
    own = "-" if rec.get("roofline_fraction") is None else f"{100 * rec['roofline_fraction']:.1f} %"
    for key, value in (("backend", rec["backend"]), ("precision", rec["precision"]),
                       ("device", rec.get("device", "-")), ("versions", versions),
                       ("edgecl-rt", __version__), ("batch", rec["batch"]), ("iters", rec["iters"]),
                       ("threads", rec["threads"] or "default"),
                       ("p50 ms", f"{rec['p50_ms']:.3f}"), ("p95 ms", f"{rec['p95_ms']:.3f}"),
                       ("p99 ms", f"{rec['p99_ms']:.3f}"), ("mean ms", f"{rec['mean_ms']:.3f}"),
                       ("throughput img/s", f"{rec['throughput_ips']:.1f}"),
                       ("model GFLOP/call", num("gflop", ".4f")), ("achieved GFLOP/s", num("gflops", ".1f")),
                       ("GEMM peak GFLOP/s", num("peak_gflops", ".1f")), ("fraction of peak", frac),
                       ("float GEMM peak GFLOP/s", num("float_peak_gflops", ".1f")),
                       ("fraction of own roofline", own)):
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
    from ..serve.server import ModelServer

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
