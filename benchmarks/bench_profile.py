"""Where the time goes: ONNX Runtime's profiler on every format, time share per op kind.

    python benchmarks/bench_profile.py --run RUN --task 5          # default model, the shipped files
    python benchmarks/bench_profile.py --models vit_tiny,vit_base  # 224 px, random weights
    python benchmarks/bench_profile.py --models default,vit_tiny,vit_base --run RUN

Every file is profiled at batch 1 and 32 with one ONNX Runtime thread (``--threads``); the first
call is dropped and each op kind's time is its minimum over the profiled calls (on a shared machine
other jobs only add time; the call's time is its minimum too, so "outside kernels" is approximate). Kinds: float GEMM
(MatMul/FusedMatMul/Gemm of a weight), int8 GEMM (DynamicQuantizeMatMul, QLinearMatMul, ...),
attention (its two batched MatMuls, Softmax, attention contrib ops), LayerNorm, GELU, Q/DQ,
layout (Transpose, Reshape, Split, ...), element-wise, Conv (the patch embedding), and "outside
kernels" (the call's wall time not spent in any kernel: ONNX Runtime's executor and Python).
The roofline columns: FLOPs per call from the same profile and the achieved rate over the
fastest profiled call, against :func:`edgecl_runtime.predict.gemm_probe.gemm_peak` at the same threads and
precision. A profiled call is slower than an unprofiled one (ORT records every kernel; at batch 1 on a small
model 3-4x), so use ``edgecl-rt bench`` for the rate itself, these tables for the shares of large
calls and ``bench_kernels.py`` (every kernel timed alone, unprofiled) for small ones.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgecl_runtime.predict.gemm_probe import gemm_peak
from edgecl_runtime.predict.roofline import profile_model
from timing import print_table

BATCHES = (1, 32)
FORMATS = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx",
           "int8cpu": "model.int8cpu.onnx"}
KINDS = {
    "GEMM fp": ("MatMul", "FusedMatMul", "Gemm"),
    "GEMM int8": ("DynamicQuantizeMatMul", "MatMulInteger", "MatMulIntegerToFloat", "QLinearMatMul", "QGemm"),
    "attention": ("Softmax", "Attention", "MultiHeadAttention"),
    "LayerNorm": ("LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization"),
    "GELU": ("Gelu", "BiasGelu", "FastGelu", "Erf"),
    "Q/DQ": ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"),
    "layout": ("Transpose", "Reshape", "Squeeze", "Unsqueeze", "Split", "Concat", "Slice", "Gather",
               "Shape", "Expand", "ReorderInput", "ReorderOutput", "Identity", "Flatten"),
    "elementwise": ("Add", "Mul", "Sub", "Div", "Where", "Equal", "Cast", "Sqrt", "Pow", "ReduceMean"),
    "Conv": ("Conv",),
}
MODELS = {"default": "shipped", "vit_tiny": "vit_tiny", "vit_base": "vit_base"}


def kind_of(op: str) -> str:
    if op.endswith("(attention)"):
        return "attention"
    return next((k for k, ops in KINDS.items() if op in ops), "other")


def shares(prof: dict) -> dict[str, float]:
    """{kind: share of the median call's wall time}, "outside kernels" included."""
    total = prof["run_us"] or 1.0
    out: dict[str, float] = {}
    for op, rec in prof["ops"].items():
        out[kind_of(op)] = out.get(kind_of(op), 0.0) + rec["us"] / total
    out["outside kernels"] = max(0.0, 1.0 - sum(out.values()))
    return out


def top_ops(prof: dict, n: int = 4) -> str:
    ops = sorted(prof["ops"].items(), key=lambda kv: -kv[1]["us"])[:n]
    total = prof["run_us"] or 1.0
    return ", ".join(f"{op} {100 * rec['us'] / total:.0f}%" for op, rec in ops)


def build_files(name: str, out: Path, calib_n: int) -> tuple[dict[str, Path], tuple[int, int, int]]:
    """Every format of ``name`` (random weights; the default backbone's bundled ones) in ``out``."""
    from bench_export import build_model
    from edgecl.exporters.onnx.export import export_onnx
    from edgecl.exporters.onnx.fp16 import convert_fp16
    from edgecl.exporters.quantize.int8 import quantize_int8
    from edgecl.exporters.quantize.int8cpu import quantize_int8_cpu

    model, shape = build_model(MODELS[name])
    fp32 = Path(export_onnx(model, out / "model.onnx", input_shape=shape, opset=17))
    calib = np.random.default_rng(0).random((calib_n, *shape), dtype=np.float32)
    convert_fp16(fp32, out / "model.fp16.onnx")
    quantize_int8(fp32, out / "model.int8.onnx", calib)
    quantize_int8_cpu(fp32, out / "model.int8cpu.onnx")
    return {f: out / file for f, file in FORMATS.items()}, shape


def run_files(run: str, task: int) -> tuple[dict[str, Path], tuple[int, ...]]:
    """The shipped files of a trained run's task bundle."""
    import json

    bundle = Path(run) / f"task-{task:02d}" / "export"
    shape = tuple(json.loads((bundle / "manifest.json").read_text())["input"]["shape"][1:])
    return {f: bundle / file for f, file in FORMATS.items() if (bundle / file).is_file()}, shape


def profile_rows(label: str, files: dict[str, Path], shape, threads: int, runs: int) -> tuple[list, list]:
    """(share rows, roofline rows) for every format and batch."""
    share_rows, roof_rows = [], []
    peaks = {f: gemm_peak(f, threads)["gflops"] for f in files}
    for fmt, path in files.items():
        for b in BATCHES:
            x = np.random.default_rng(b).random((b, *shape), dtype=np.float32)
            prof = profile_model(str(path), x, threads=threads, runs=runs if b == 1 else max(1, runs // 2), stat="min")
            sh = shares(prof)
            share_rows.append([label, fmt, b, f"{prof['run_us'] / 1e3:.2f}"]
                              + [f"{100 * sh.get(k, 0.0):.1f}" for k in COLUMNS] + [top_ops(prof)])
            rate = prof["flops"] / (prof["run_us"] / 1e6) / 1e9 if prof["run_us"] else 0.0
            roof_rows.append([label, fmt, b, f"{prof['flops'] / 1e9:.3f}", f"{rate:.1f}",
                              f"{peaks[fmt]:.0f}", f"{100 * rate / peaks[fmt]:.1f}"])
            print(f"{label} {fmt} b{b}: {prof['run_us'] / 1e3:.2f} ms profiled", flush=True)
    return share_rows, roof_rows


COLUMNS = (*KINDS, "other", "outside kernels")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="default,vit_tiny,vit_base")
    parser.add_argument("--run", help="trained run: the default model's shipped files (task --task)")
    parser.add_argument("--task", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=6, help="profiled calls at batch 1 (half at 32)")
    parser.add_argument("--calib", type=int, default=16, help="random calibration images (random-weight models)")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    share_rows, roof_rows = [], []
    with tempfile.TemporaryDirectory(prefix="bench_profile_") as tmp:
        for name in args.models.split(","):
            if name == "default" and args.run:
                files, shape = run_files(args.run, args.task)
                label = f"default (run task {args.task})"
            else:
                folder = Path(tmp) / name
                folder.mkdir()
                files, shape = build_files(name, folder, args.calib)
                label = f"{name} @{shape[-1]}" + (" random" if name != "default" else "")
            s, r = profile_rows(label, files, shape, args.threads, args.runs)
            share_rows += s
            roof_rows += r
    print(f"\nonnxruntime {ort.__version__}, {args.threads} thread(s)")
    print_table("Time share per op kind, % of the fastest profiled call (per op: its fastest)",
                ["model", "format", "batch", "ms", *COLUMNS, "top ops"], share_rows)
    print_table("Roofline of the profiled calls (GEMM peak: same-process probe, same threads and precision)",
                ["model", "format", "batch", "GFLOP/call", "GFLOP/s", "peak GFLOP/s", "% of peak"], roof_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
