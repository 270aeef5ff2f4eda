"""Export benchmark: export time, file size and CPU latency of every ONNX format vs PyTorch eager.

Everything is measured in one run, side by side, with the same thread count for PyTorch and ONNX
Runtime, so the ratios are comparable even on a loaded machine (absolute numbers are not).

    python benchmarks/bench_export.py                      # the shipped default model (bundled backbone)
    python benchmarks/bench_export.py --model vit_tiny     # vit_tiny_patch16_224, 3 x 224 x 224
    python benchmarks/bench_export.py --threads 2 --opset 16 --repeats 10 --rounds 5
    python benchmarks/bench_export.py --model vit_tiny --int8-cpu   # + the INT8-on-ORT-CPU variants table

``--int8-cpu`` then prints a second table: INT8 variants of the same FP32 file (QDQ/QOperator, S8S8/U8S8,
per-channel/per-tensor, attention MatMuls, dynamic), their speed vs FP32 at 1 and 2 threads, and the
ORT kernels they become (see ``benchmarks/int8_cpu_variants.py``; speed only here: random weights;
every variant for ``shipped``, its ``KEY_VARIANTS`` for the 224-px models).

Latency at batch 1 and 32: ``--rounds`` interleaved rounds, each timing every runner ``--repeats``
times (median); the table shows the median over rounds (see :func:`latencies`).

``shipped`` is the architecture every default run exports: the bundled backbone
(``edgecl/assets/backbone.safetensors``: 28 px, 1 channel, patch 7, width 128, depth 6, 4 heads,
average pooling), loaded by ``edgecl.backbone.build`` as a run does, with its normalisation and a
10-class head (seeded random; a default run ends with 10 classes). The ``vit_*`` models have random
weights (latency does not depend on them). INT8 calibrates on random [0, 1] images, so the INT8 row
says nothing about accuracy: the gate in ``export_bundle`` is where accuracy is judged. File sizes
are printed in MB = 1e6 bytes.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgecl.vit import backbone
from edgecl.exporters.onnx.fp16 import convert_fp16
from edgecl.exporters.quantize.int8 import quantize_int8
from edgecl.exporters.onnx.export import ExportError, export_onnx
from edgecl.exporters.parity.ort_session import make_session
from edgecl.exporters.parity.reference import export_mode
from edgecl.vit.model import Normalized, create_vit

MODELS = {
    "shipped": None,  # the bundled backbone: architecture and normalisation from its sidecar
    "vit_tiny": ("vit_tiny_patch16_224", dict()),
    "vit_small": ("vit_small_patch16_224", dict()),
    "vit_base": ("vit_base_patch16_224", dict()),
}
BATCHES = (1, 32)


def build_model(name: str, num_classes: int = 10) -> tuple[Normalized, tuple[int, int, int]]:
    """``Normalized`` ViT and its (C, H, W): the bundled backbone for ``shipped``, else random weights."""
    torch.manual_seed(0)
    if name == "shipped":
        info = backbone.bundled_info()
        kwargs = info["model_kwargs"]
        vit = backbone.build(choice_weights="bundled", model=info["model_name"], model_kwargs=kwargs,
                             expected_sha=info["sha256"])
        vit.reset_classifier(num_classes)
        chans, size = kwargs.get("in_chans", 3), kwargs.get("img_size", 224)
        return Normalized(vit, info["mean"], info["std"]).eval(), (chans, size, size)
    timm_name, kwargs = MODELS[name]
    vit = create_vit(timm_name, num_classes, kwargs)
    chans, size = kwargs.get("in_chans", 3), kwargs.get("img_size", 224)
    return Normalized(vit, [0.5] * chans, [0.25] * chans).eval(), (chans, size, size)


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def export_all(model: Normalized, shape: tuple[int, int, int], out: Path, opset: int, calib_n: int) -> dict:
    """Export every format; returns {format: {"path", "export_s"}}."""
    calib = np.random.default_rng(0).random((calib_n, *shape), dtype=np.float32)
    fp32 = out / "model.torchscript.onnx"
    steps = {
        "fp32 (torchscript)": (fp32, lambda p: export_onnx(model, p, input_shape=shape, opset=opset)),
        "fp32 (dynamo)": (out / "model.dynamo.onnx",
                          lambda p: export_onnx(model, p, input_shape=shape, opset=opset, exporter="dynamo")),
        "fp16": (out / "model.fp16.onnx", lambda p: convert_fp16(fp32, p)),
        "int8": (out / "model.int8.onnx", lambda p: quantize_int8(fp32, p, calib)),
    }
    if opset < 17:  # the dynamo exporter cannot emit opset 16 (see edgecl.exporters.onnx.export)
        del steps["fp32 (dynamo)"]
    rows = {}
    for name, (path, step) in steps.items():  # in order: fp16 and int8 read the torchscript fp32 file
        start = time.perf_counter()
        try:
            step(path)
        except ExportError as exc:
            if name != "fp32 (dynamo)":  # the comparison exporter may fail; the shipped formats may not
                raise
            print(f"{name}: export failed, row left out: {exc}", flush=True)
            continue
        rows[name] = {"path": path, "export_s": time.perf_counter() - start}
    return rows


def latencies(model: Normalized, shape: tuple[int, int, int], rows: dict, threads: int, repeats: int,
              rounds: int) -> dict:
    """{name: {batch: ms}} for PyTorch eager and every ONNX file.

    Interleaved: each round times every runner once (``repeats`` calls, median), starting from a
    different runner each round; the result is the median over rounds. Timing the runners one after
    the other instead let load changes masquerade as format effects (measured on vit_tiny at batch 32:
    the TorchScript FP32 graph, timed first, came out 2.4x slower than in an interleaved run, where it
    matched the dynamo graph).
    """
    torch.set_num_threads(threads)
    xs = {b: np.random.default_rng(b).random((b, *shape), dtype=np.float32) for b in BATCHES}
    runners = {"pytorch eager": {b: partial(model, torch.from_numpy(x)) for b, x in xs.items()}}
    for name, row in rows.items():
        run = make_session(row["path"], threads=threads).run
        runners[name] = {b: partial(run, None, {"input": x}) for b, x in xs.items()}
    names = list(runners)
    samples: dict = {n: {b: [] for b in BATCHES} for n in names}
    with export_mode(model), torch.inference_mode():
        for r in range(rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                for b in BATCHES:
                    samples[name][b].append(median_ms(runners[name][b], repeats, warmup=2 if r == 0 else 1))
    return {n: {b: statistics.median(samples[n][b]) for b in BATCHES} for n in names}


def print_table(rows: dict, lat: dict) -> None:
    base = lat["pytorch eager"]
    head = f"{'format':<20}{'export s':>9}{'MB':>8}" + "".join(f"{f'b{b} ms':>10}{f'b{b} x':>8}" for b in BATCHES)
    print(head)
    print("-" * len(head))
    for name, per_batch in lat.items():
        row = rows.get(name)
        export_s = f"{row['export_s']:9.2f}" if row else f"{'-':>9}"
        size = f"{row['path'].stat().st_size / 1e6:8.2f}" if row else f"{'-':>8}"
        cells = "".join(f"{per_batch[b]:10.2f}{per_batch[b] / base[b]:8.2f}" for b in BATCHES)
        print(f"{name:<20}{export_s}{size}{cells}")
    print("MB = 1e6 bytes; x = latency / PyTorch eager latency at the same batch (< 1: faster than PyTorch)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="shipped")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for PyTorch and ORT (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per runner per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median over rounds)")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--calib", type=int, default=64, help="random calibration images for INT8 (timing only)")
    parser.add_argument("--int8-cpu", action="store_true",
                        help="also print the INT8-on-ORT-CPU variants table (benchmarks/int8_cpu_variants.py)")
    args = parser.parse_args(argv)
    if min(args.threads, args.repeats, args.rounds, args.calib) < 1:
        parser.error("--threads, --repeats, --rounds and --calib must be >= 1")
    torch.set_num_threads(args.threads)
    model, shape = build_model(args.model)
    print(f"model {args.model} input {shape} opset {args.opset} threads {args.threads} "
          f"torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_export_") as tmp:
        rows = export_all(model, shape, Path(tmp), args.opset, args.calib)
        print_table(rows, latencies(model, shape, rows, args.threads, args.repeats, args.rounds))
        if args.int8_cpu:
            # benchmarks/ is on sys.path when this file runs as a script
            from int8_cpu_variants import int8_cpu_section, pick

            print("\nINT8 on ONNX Runtime CPU (variants of the fp32 (torchscript) file; speed only: random weights)")
            calib = np.random.default_rng(0).random((args.calib, *shape), dtype=np.float32)
            int8_cpu_section(rows["fp32 (torchscript)"]["path"], shape, calib, threads=sorted({1, args.threads, 2}),
                             repeats=args.repeats, rounds=args.rounds,
                             variants=pick(None if args.model == "shipped" else "key"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
