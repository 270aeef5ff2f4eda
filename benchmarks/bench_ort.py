"""ONNX Runtime FP32 / FP16 / INT8 vs PyTorch eager on the CPU, batch 1 and 32, side by side.

    python benchmarks/bench_ort.py                 # default model at 28 px and vit_tiny_patch16_224 at 224
    python benchmarks/bench_ort.py --threads 2 --reps 9

The ONNX files come from ``edgecl.exporters`` (``export_onnx``, ``convert_fp16``, ``quantize_int8``),
exactly as in a bundle. PyTorch and ORT get the same thread count. Weights are random and INT8
calibrates on random [0, 1] images: this measures speed only (the export gate judges accuracy).
speed-up = PyTorch time / format time, median of same-repetition ratios (> 1: faster than PyTorch).
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

from edgecl.exporters.onnx.fp16 import convert_fp16
from edgecl.exporters.quantize.int8 import quantize_int8
from edgecl.exporters.onnx.export import export_onnx
from edgecl.exporters.parity.ort_session import make_session
from edgecl.vit.model import Normalized, create_vit
from timing import default_arch, interleaved, med_ms, median_ratio, print_table, ratio_spread, set_threads

BATCHES = (1, 32)


def build(name: str, kwargs: dict) -> tuple[Normalized, tuple[int, int, int]]:
    torch.manual_seed(0)
    chans, size = kwargs.get("in_chans", 3), kwargs.get("img_size", 224)
    model = Normalized(create_vit(name, 10, kwargs), [0.5] * chans, [0.5] * chans).eval()
    return model, (chans, size, size)


def export_all(model: Normalized, shape: tuple[int, int, int], out: Path) -> dict[str, Path]:
    fp32 = export_onnx(model, out / "model.onnx", input_shape=shape)
    calib = np.random.default_rng(0).random((32, *shape), dtype=np.float32)
    logging.disable(logging.WARNING)  # ORT's quantiser advises pre-processing on the root logger
    return {"ORT fp32": fp32, "ORT fp16": convert_fp16(fp32, out / "model.fp16.onnx"),
            "ORT int8": quantize_int8(fp32, out / "model.int8.onnx", calib)}


def bench(label: str, name: str, kwargs: dict, threads: int, reps: int) -> list[list[str]]:
    model, shape = build(name, kwargs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = export_all(model, shape, Path(tmp))
        sessions = {k: make_session(p, threads=threads) for k, p in files.items()}
        for batch in BATCHES:
            x = np.random.default_rng(1).random((batch, *shape), dtype=np.float32)
            xt = torch.from_numpy(x)

            def eager():
                with torch.inference_mode():
                    model(xt)

            cases = {"PyTorch eager": eager}
            for key, sess in sessions.items():
                cases[key] = (lambda s=sess: s.run(None, {"input": x}))
            times = interleaved(cases, reps=reps, inner=5 if batch == 1 else 1)
            for key, t in times.items():
                rows.append([label, str(batch), key, f"{med_ms(t):.2f}", f"{batch / (med_ms(t) / 1e3):.0f}",
                             f"{median_ratio(times, 'PyTorch eager', key):.2f}x", ratio_spread(times, "PyTorch eager", key)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    name, kwargs, source = default_arch()
    rows = bench(f"default d{kwargs.get('embed_dim')}x{kwargs.get('depth')}@{kwargs.get('img_size')}", name, kwargs,
                 args.threads, args.reps)
    rows += bench("vit_tiny_patch16_224@224", "vit_tiny_patch16_224", {}, args.threads, args.reps)
    print_table(f"ORT vs PyTorch eager, CPU, {args.threads} thread(s) each, median of {args.reps} interleaved reps "
                f"(default model: {source})",
                ["model", "batch", "runtime", "ms/batch", "images/s", "speed-up vs torch", "IQR"], rows)


if __name__ == "__main__":
    main()
