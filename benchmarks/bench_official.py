"""The deployed files against the official way of inference, paired, and the candidates that might close the gap.

    python benchmarks/bench_official.py --run RUN --task 5                 # default model, shipped files
    python benchmarks/bench_official.py --model vit_tiny                   # 224 px, random weights

"Official": PyTorch eager with T = 10 task branches (rank 10) hooked on K and V and rebuilt at every
forward, as the InfLoRA code runs (``bench_inference.variants``' ``unmerged T=10``). Every case is
timed in one process, interleaved and rotated (:func:`timing.interleaved`), 1 thread for PyTorch and
ONNX Runtime; the table shows the median per-repetition ratio official ms / case ms (> 1 = faster
than the official way) and case ms / FP32-file ms's inverse (> 1 = faster than FP32).

Candidates (built here from the FP32 file, measured beside the shipped ``model.int8cpu.onnx``;
``--candidates`` picks the groups): ``fp32 +MHA`` / ``int8cpu +MHA`` = attention rewritten as ONNX
Runtime's ``MultiHeadAttention`` contrib op (:mod:`mha_fuse`) in the shipped FP32 and CPU files;
``int8cpu +SkipLN`` = ONNX Runtime's transformer optimizer's own fusions on the shipped CPU file;
``int8cpu +attn`` = attention's two activation MatMuls quantised too (``quantize_dynamic`` with
``MatMulConstBOnly`` off); session settings on the shipped file: ``no arena`` (CPU memory arena
off), ``no spinning`` (intra-op threads never spin), ``basic opt`` (graph optimisation level basic
instead of all). A candidate is kept only when it beats the shipped file at batch 1 and 32.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic

from bench_inference import variants
from edgecl.exporters.quantize.int8 import quiet_quantizer
from edgecl.exporters.quantize.int8cpu import float_nodes
from timing import default_arch, interleaved, med_ms, median_ratio, print_table, ratio_spread, set_threads

BATCHES = (1, 32)


def session(path: Path, threads: int = 1, **settings) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if settings.get("no_arena"):
        opts.enable_cpu_mem_arena = False
    if settings.get("no_spin"):
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if settings.get("basic"):
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def int8cpu_attention(fp32: Path, dst: Path) -> Path:
    """The shipped recipe with attention's activation MatMuls quantised too."""
    model = onnx.load(str(fp32))
    skip = [n for n in float_nodes(model) if n not in set(_activation_matmuls(model))]
    skip += [f"{name}_MatMul" for name in skip]
    with quiet_quantizer():
        quantize_dynamic(str(fp32), str(dst), op_types_to_quantize=["MatMul"], per_channel=False,
                         reduce_range=False, weight_type=QuantType.QInt8, nodes_to_exclude=skip,
                         extra_options={"MatMulConstBOnly": False})
    return dst


def mha_files(paths: dict[str, Path], tmp: Path) -> dict[str, Path]:
    """``fp32 +MHA`` / ``int8cpu +MHA``: the shipped files with attention rewritten as ONNX Runtime's
    MultiHeadAttention (:mod:`mha_fuse`; attention's MatMuls are float in both files)."""
    from mha_fuse import fuse_attention

    out = {}
    for key in ("fp32", "int8cpu"):
        model = onnx.load(str(paths[key]))
        if fuse_attention(model):
            out[f"{key} +MHA"] = tmp / f"{key}.mha.onnx"
            onnx.save(model, str(out[f"{key} +MHA"]))
    return out


def skipln_file(int8cpu: Path, dst: Path) -> Path:
    """``int8cpu +SkipLN``: ONNX Runtime's transformer optimizer (``model_type="vit"``, its own fusions
    only, ``opt_level=0``) on the shipped CPU file: residual Add + LayerNorm as SkipLayerNormalization."""
    from onnxruntime.transformers.optimizer import optimize_model

    model = onnx.load(str(int8cpu))
    heads, width = _heads_width(model)
    optimize_model(str(int8cpu), model_type="vit", num_heads=heads, hidden_size=width,
                   opt_level=0).save_model_to_file(str(dst))
    return dst


def _heads_width(model: onnx.ModelProto) -> tuple[int, int]:
    """(heads, width) of a timm ViT export: the first LayerNorm's scale length, heads from the qkv Reshape."""
    inits = {t.name: t for t in model.graph.initializer}
    width = next(int(inits[n.input[1]].dims[0]) for n in model.graph.node if n.op_type == "LayerNormalization")
    consts = [n for n in model.graph.node if n.op_type == "Constant" and "/attn/Constant_3" in n.name]
    heads = int(onnx.numpy_helper.to_array(consts[0].attribute[0].t).ravel()[0]) if consts else 0
    return heads, width


def _activation_matmuls(model: onnx.ModelProto) -> list[str]:
    from edgecl.exporters.quantize.int8 import activation_matmuls
    return activation_matmuls(model)


def files(args, tmp: Path) -> tuple[dict[str, Path], tuple[int, int, int], str, dict]:
    """(shipped files, input shape, label, timm (name, kwargs)) of the run's task or a random model."""
    if args.run:
        bundle = Path(args.run) / f"task-{args.task:02d}" / "export"
        names = {"fp32": "model.onnx", "int8": "model.int8.onnx", "int8cpu": "model.int8cpu.onnx"}
        name, kwargs, _ = default_arch()
        size, chans = kwargs.get("img_size", 224), kwargs.get("in_chans", 3)
        return ({k: bundle / v for k, v in names.items()}, (chans, size, size),
                f"default (run task {args.task})", (name, kwargs))
    from bench_profile import build_files
    from bench_export import MODELS
    paths, shape = build_files(args.model, tmp, 16)
    paths.pop("fp16")
    return paths, shape, f"{args.model} @{shape[-1]} random", MODELS[args.model]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run")
    parser.add_argument("--task", type=int, default=5)
    parser.add_argument("--model", default="vit_tiny")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--no-official", action="store_true", help="files and candidates only")
    parser.add_argument("--candidates", default="attn,session,mha",
                        help="which candidate groups to time beside the shipped files: attn, session, mha, skipln")
    args = parser.parse_args(argv)
    set_threads(1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_official_") as tmp:
        paths, shape, label, (name, kwargs) = files(args, Path(tmp))
        groups = set(args.candidates.split(","))
        if "attn" in groups:
            paths["int8cpu +attn"] = int8cpu_attention(paths["fp32"], Path(tmp) / "attn.onnx")
        if "mha" in groups:
            paths.update(mha_files(paths, Path(tmp)))
        if "skipln" in groups:
            paths["int8cpu +SkipLN"] = skipln_file(paths["int8cpu"], Path(tmp) / "skipln.onnx")
        runs = {k: session(p).run for k, p in paths.items()}
        for key, settings in (("int8cpu no arena", {"no_arena": True}), ("int8cpu no spinning", {"no_spin": True}),
                              ("int8cpu basic opt", {"basic": True})):
            if "session" in groups:
                runs[key] = session(paths["int8cpu"], **settings).run
        official = None if args.no_official else variants(name, {**kwargs}, 10)["unmerged T=10"].eval()
        for b in BATCHES:
            x = np.random.default_rng(b).random((b, *shape), dtype=np.float32)
            cases = {k: partial(run, None, {"input": x}) for k, run in runs.items()}
            if official is not None:
                xt = torch.from_numpy(x)
                cases["official eager T=10"] = lambda: official(xt)
            with torch.inference_mode():
                times = interleaved(cases, reps=args.reps, inner=max(1, 8 // b), warmup=2)
            for k in runs:
                vs_off = ("-", "-") if official is None else (
                    f"{median_ratio(times, 'official eager T=10', k):.2f}", ratio_spread(times, "official eager T=10", k))
                rows.append([label, b, k, f"{med_ms(times[k]):.2f}", *vs_off,
                             f"{median_ratio(times, 'fp32', k):.2f}", ratio_spread(times, "fp32", k)])
            if official is not None:
                rows.append([label, b, "official eager T=10", f"{med_ms(times['official eager T=10']):.2f}",
                             "1.00", "-", f"{median_ratio(times, 'fp32', 'official eager T=10'):.2f}", "-"])
    print_table(f"Paired, interleaved, 1 thread, median of {args.reps} reps (onnxruntime {ort.__version__}, "
                f"torch {torch.__version__})",
                ["model", "batch", "case", "ms", "x official", "IQR", "x FP32", "IQR"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
