"""What makes INT8 pay on ONNX Runtime CPU: quantisation variants of one FP32 ONNX file, side by side.

Every variant is built from the same FP32 file with ``onnxruntime.quantization`` and timed against
it in one interleaved loop (each round times FP32 and every variant, starting from a different one;
the ratio FP32 ms / variant ms is taken per round, the table shows the median over rounds, so > 1 means
faster than FP32). With labelled test images, each variant also gets the INT8 gate of
``edgecl_runtime.contract.DEFAULT_THRESHOLDS["int8"]`` against the FP32 file's logits.

    # a trained run (the bundle of ``edgecl export --run R --task 5 --int8``): speed + gate
    python benchmarks/int8_cpu_variants.py --run models/default --task 5
    # speed only, random weights and random [0, 1] calibration (accuracy cannot be judged)
    python benchmarks/int8_cpu_variants.py --model vit_tiny
    python benchmarks/bench_export.py --model vit_tiny --int8-cpu   # the same table after bench_export's

Variants (MinMax calibration; patch embedding and head stay float in every variant, like the TensorRT
file, so each row changes one thing): ``qdq``/``qop`` = QDQ or QOperator format, ``s8s8`` = symmetric
int8 activations, ``u8s8`` = asymmetric uint8 activations, int8 weights, ``pc``/``pt`` = per-channel
or per-tensor weights, ``rr`` = reduce_range (7-bit weights), ``attn`` = also attention's two
activation MatMuls, ``dyn`` = ``quantize_dynamic`` (activation ranges computed per call). The
``kernels`` column is what ORT's graph optimiser turned the MatMuls into (the session's optimised
graph): that decides the speed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from edgecl.exporters.quantize.int8 import (
    ArrayCalibrationReader,
    quiet_quantizer,
    activation_matmuls,
    quantize_int8,
)
from edgecl.exporters.quantize.int8cpu import quantize_int8_cpu
from edgecl_runtime.contract import DEFAULT_THRESHOLDS
from onnxruntime.quantization import (
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

BATCHES = (1, 32)
FLOAT_LAYERS = ("patch_embed", "head")
QDQ, QOP = QuantFormat.QDQ, QuantFormat.QOperator
S8, U8 = QuantType.QInt8, QuantType.QUInt8
KERNELS = ("QLinearMatMul", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "MatMulInteger",
           "QGemm", "QLinearAdd", "MatMul", "FusedMatMul", "Gemm", "QuantizeLinear", "DequantizeLinear",
           "DynamicQuantizeLinear")
SHORT = {"QLinearMatMul": "QLMM", "MatMulIntegerToFloat": "MMI2F", "DynamicQuantizeMatMul": "DQMM",
         "MatMulInteger": "MMInt", "QuantizeLinear": "Q", "DequantizeLinear": "DQ",
         "DynamicQuantizeLinear": "DynQ", "FusedMatMul": "FMM"}


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str = "static"  # static | dynamic | tensorrt (exporters/quantize/int8.py: quantize_int8, unchanged)
    fmt: QuantFormat = QDQ
    act: QuantType = S8
    weight: QuantType = S8
    per_channel: bool = True
    attention: bool = False
    reduce_range: bool = False


VARIANTS = (
    Variant("qdq-s8s8-pc (TensorRT file)", kind="tensorrt"),
    Variant("qdq-s8s8-pt", per_channel=False),
    Variant("qdq-u8s8-pc", act=U8),
    Variant("qdq-u8s8-pt", act=U8, per_channel=False),
    Variant("qdq-u8s8-pt-rr", act=U8, per_channel=False, reduce_range=True),
    Variant("qdq-s8s8-pt-attn", per_channel=False, attention=True),
    Variant("qdq-u8s8-pt-attn", act=U8, per_channel=False, attention=True),
    Variant("qop-s8s8-pc", fmt=QOP),
    Variant("qop-u8s8-pc", fmt=QOP, act=U8),
    Variant("qop-u8s8-pt", fmt=QOP, act=U8, per_channel=False),
    Variant("qop-u8s8-pt-attn", fmt=QOP, act=U8, per_channel=False, attention=True),
    Variant("dyn-u8s8-pc", kind="dynamic", act=U8),
    Variant("dyn-u8s8-pt", kind="dynamic", act=U8, per_channel=False),
    Variant("dyn-u8s8-pt-attn", kind="dynamic", act=U8, per_channel=False, attention=True),
    Variant("dyn-u8u8-pt", kind="dynamic", act=U8, weight=U8, per_channel=False),
)

SHIPPED_CPU = "dyn-u8s8-pt"  # the bundle's model.int8cpu.onnx (exporters/quantize/int8cpu.py builds it)

# the subset bench_export times on the 224-px models (a batch-32 FP32 call takes seconds there)
KEY_VARIANTS = ("qdq-s8s8-pc (TensorRT file)", "qdq-u8s8-pt", "qop-s8s8-pc", "qop-u8s8-pt", "dyn-u8s8-pc",
                "dyn-u8s8-pt", "dyn-u8s8-pt-attn", "dyn-u8u8-pt")


def pick(names: str | None) -> tuple[Variant, ...]:
    """Variants named in the comma-separated ``names`` ("key": :data:`KEY_VARIANTS`; None: all)."""
    if not names:
        return VARIANTS
    want = KEY_VARIANTS if names == "key" else tuple(n.strip() for n in names.split(","))
    unknown = set(want) - {v.name for v in VARIANTS}
    if unknown:
        raise SystemExit(f"unknown variant(s) {sorted(unknown)}: choose from {[v.name for v in VARIANTS]}")
    return tuple(v for v in VARIANTS if v.name in want)


def float_nodes(model: onnx.ModelProto, attention: bool) -> list[str]:
    """Nodes every variant keeps float: the patch embedding, the head, and (unless ``attention``)
    the MatMuls of two activations (``q k^T``, ``softmax(.) v``)."""
    names = [n.name for n in model.graph.node if any(f"/{layer}/" in n.name for layer in FLOAT_LAYERS)]
    return names + ([] if attention else activation_matmuls(model))


def build_variant(v: Variant, src: Path, dst: Path, calib: np.ndarray) -> Path:
    """Write variant ``v`` of the FP32 file ``src`` to ``dst`` (``calib``: (N, C, H, W) in [0, 1])."""
    if v.kind == "tensorrt":
        return quantize_int8(src, dst, calib)
    if v.name == SHIPPED_CPU:  # the export's own function, so this row measures the shipped file
        return quantize_int8_cpu(src, dst)
    skip = float_nodes(onnx.load(str(src)), v.attention)
    with quiet_quantizer():
        if v.kind == "dynamic":  # activations: uint8 ranges computed per call (DynamicQuantizeLinear)
            skip += [f"{name}_MatMul" for name in skip]  # it rewrites Gemm as <name>_MatMul + Add first
            quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul"], per_channel=v.per_channel,
                             reduce_range=v.reduce_range, weight_type=v.weight, nodes_to_exclude=skip,
                             extra_options={"MatMulConstBOnly": not v.attention})
        else:
            quantize_static(str(src), str(dst), ArrayCalibrationReader(calib, batch_size=8),
                            quant_format=v.fmt, op_types_to_quantize=["MatMul", "Gemm", "Conv"],
                            per_channel=v.per_channel, reduce_range=v.reduce_range, activation_type=v.act,
                            weight_type=v.weight, nodes_to_exclude=skip, calibrate_method=CalibrationMethod.MinMax,
                            extra_options={"ActivationSymmetric": v.act == S8, "WeightSymmetric": True,
                                           "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1},
                                           "MatMulConstBOnly": not v.attention, "CalibStridedMinMax": 1})
    onnx.checker.check_model(str(dst))
    return dst


def build_variants(src: Path, out: Path, calib: np.ndarray, variants=VARIANTS,
                   log: Callable[[str], None] = lambda s: None) -> dict[str, Path]:
    """{variant name: file} for every variant (a variant ORT cannot build is logged and left out)."""
    paths = {}
    for i, v in enumerate(variants):
        start = time.perf_counter()
        try:
            paths[v.name] = build_variant(v, src, out / f"v{i:02d}.onnx", calib)
        except Exception as exc:  # noqa: BLE001 - report the variant, keep the others
            log(f"{v.name}: not built ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
            continue
        log(f"{v.name}: built in {time.perf_counter() - start:.1f} s")
    return paths


def session(path: Path, threads: int, optimized: Path | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if optimized is not None:
        opts.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def kernels(path: Path) -> Counter:
    """Op types of the MatMul-related nodes in ORT's optimised graph of ``path``."""
    with tempfile.TemporaryDirectory(prefix="int8_opt_") as tmp:
        opt = Path(tmp) / "opt.onnx"
        session(path, 1, opt)
        graph = onnx.load(str(opt), load_external_data=False).graph
    return Counter(n.op_type for n in graph.node if n.op_type in KERNELS)


def kernel_text(counts: Counter) -> str:
    return " ".join(f"{counts[k]}{SHORT.get(k, k)}" for k in KERNELS if counts[k])


def _call_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - start)


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return q[0], statistics.median(xs), q[2]


def speed(paths: dict[str, Path], shape: tuple[int, int, int], threads: tuple[int, ...] = (1, 2),
          repeats: int = 5, rounds: int = 5) -> dict[str, dict[tuple[int, int], dict[str, float]]]:
    """{name: {(threads, batch): {"ms", "x", "lo", "hi"}}}: median ms; median, first and third quartile
    of the per-round ratios FP32 ms / variant ms.

    ``paths`` must hold ``"fp32"``. Paired and interleaved: in each round every variant (in an order
    rotated every round) is timed in ``repeats`` alternating single calls with the FP32 file (which
    one goes first alternates too), so both see the same load; the round's ratio is the ratio of the
    two medians. On a shared machine a load burst then hits both sides of a pair instead of whichever
    file happened to run at the time (measured here: unpaired rounds put the TensorRT file of the
    shipped architecture at 0.27x FP32 at batch 1 in one run and 1.88x in another).
    """
    xs = {b: np.random.default_rng(b).random((b, *shape), dtype=np.float32) for b in BATCHES}
    names = [n for n in paths if n != "fp32"]
    out: dict = {n: {} for n in ["fp32", *names]}
    for t in threads:
        runs = {n: partial(session(p, t).run, None) for n, p in paths.items()}
        for run in runs.values():  # warm-up (the first calls allocate and pre-pack)
            for b in BATCHES:
                for _ in range(2 if b == 1 else 1):
                    run({"input": xs[b]})
        fp_ms: dict = {b: [] for b in BATCHES}
        ratios: dict = {n: {b: [] for b in BATCHES} for n in names}
        ms: dict = {n: {b: [] for b in BATCHES} for n in names}
        for r in range(rounds):
            for n in names[r % len(names):] + names[: r % len(names)]:
                for b in BATCHES:
                    pair = (runs["fp32"], runs[n]) if r % 2 == 0 else (runs[n], runs["fp32"])
                    times = [[_call_ms(partial(f, {"input": xs[b]})) for f in pair] for _ in range(repeats)]
                    f_ms, v_ms = (statistics.median(col) for col in zip(*times))
                    if r % 2:
                        f_ms, v_ms = v_ms, f_ms
                    fp_ms[b].append(f_ms)
                    ms[n][b].append(v_ms)
                    ratios[n][b].append(f_ms / v_ms)
        for b in BATCHES:
            out["fp32"][(t, b)] = {"ms": statistics.median(fp_ms[b]), "x": 1.0, "lo": 1.0, "hi": 1.0}
            for n in names:
                lo, mid, hi = _quartiles(ratios[n][b])
                out[n][(t, b)] = {"ms": statistics.median(ms[n][b]), "x": mid, "lo": lo, "hi": hi}
    return out


def logits(path: Path, x: np.ndarray, batch: int = 64) -> np.ndarray:
    run = session(path, 2).run
    return np.concatenate([run(None, {"input": x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def gate(fp32: np.ndarray, q: np.ndarray, labels: np.ndarray) -> dict[str, float | bool]:
    """INT8 gate against the FP32 file's logits: top-1 agreement, accuracy change (pp), max |dlogit|."""
    th = DEFAULT_THRESHOLDS["int8"]
    agree = float(np.mean(fp32.argmax(1) == q.argmax(1)))
    dacc = 100 * float(np.mean(q.argmax(1) == labels) - np.mean(fp32.argmax(1) == labels))
    diff = float(np.max(np.abs(fp32 - q)))
    ok = agree >= th["top1_agreement"] and abs(dacc) <= th["accuracy_delta_pp"] and diff <= th["max_abs_diff"]
    return {"agreement": agree, "dacc_pp": dacc, "max_dlogit": diff, "passed": ok}


def qualifies(row: dict, gated: dict | None, need: float = 1.3) -> bool:
    """The shipping rule: >= ``need`` x FP32 at batch 1 and 32 (every thread count timed), gate passed."""
    return bool(gated and gated["passed"]) and all(cell["x"] >= need for cell in row.values())


def print_table(lat: dict, gates: dict, kern: dict, threads: tuple[int, ...]) -> None:
    cols = [(t, b) for t in threads for b in BATCHES]
    head = (f"{'variant':<28}" + "".join(f"{f'b{b} t{t}':>20}" for t, b in cols)
            + f"{'agree %':>9}{'dacc pp':>9}{'max|dl|':>9}{'gate':>6}  kernels (ORT-optimised graph)")
    print(head)
    print("-" * len(head))
    for name, row in lat.items():
        g = gates.get(name)
        cells = "".join(f"{row[c]['ms']:17.2f} ms" if name == "fp32" else
                        f" {row[c]['x']:6.2f}x [{row[c]['lo']:.2f},{row[c]['hi']:.2f}]" for c in cols)
        acc = (f"{100 * g['agreement']:9.2f}{g['dacc_pp']:+9.2f}{g['max_dlogit']:9.3f}{'pass' if g['passed'] else 'FAIL':>6}"
               if g else f"{'-':>9}{'-':>9}{'-':>9}{'-':>6}")
        print(f"{name:<28}{cells}{acc}  {kernel_text(kern.get(name, Counter()))}")
    th = DEFAULT_THRESHOLDS["int8"]
    print(f"fp32 row: median ms; other rows: FP32 ms / variant ms, median [quartiles] of the per-round paired ratios"
          f" (> 1 = faster). "
          f"gate vs the FP32 file: agreement >= {100 * th['top1_agreement']:.0f} %, |dacc| <= "
          f"{th['accuracy_delta_pp']:g} pp, max|dlogit| <= {th['max_abs_diff']:g}. Kernels: QLMM QLinearMatMul, "
          "MMI2F MatMulIntegerToFloat, DQMM DynamicQuantizeMatMul, FMM FusedMatMul, Q/DQ Quantize/DequantizeLinear.")
    ok = [n for n in lat if n != "fp32" and qualifies(lat[n], gates.get(n))]
    if gates:
        print("ships (>= 1.3x FP32 at batch 1 and 32, every thread count, gate passed): "
              + (", ".join(ok) if ok else "none"))


def int8_cpu_section(fp32: Path, shape: tuple[int, int, int], calib: np.ndarray, *, threads=(1, 2),
                     repeats: int = 5, rounds: int = 5, test: tuple[np.ndarray, np.ndarray] | None = None,
                     tensorrt_file: Path | None = None, variants=VARIANTS) -> dict:
    """Build, time, gate and print every variant of ``fp32``; returns {"lat", "gates", "kernels"}.

    ``tensorrt_file``: use this file (the bundle's ``model.int8.onnx``) as the TensorRT row instead of
    re-quantising (a bundle's file may have fallback float layers)."""
    log = partial(print, flush=True)
    with tempfile.TemporaryDirectory(prefix="int8_cpu_") as tmp:
        todo = [v for v in variants if not (tensorrt_file and v.kind == "tensorrt")]
        built = build_variants(Path(fp32), Path(tmp), calib, todo, log)
        if tensorrt_file and len(todo) < len(variants):
            built = {VARIANTS[0].name: Path(tensorrt_file), **built}
        paths = {"fp32": Path(fp32), **built}
        kern = {n: kernels(p) for n, p in paths.items()}
        gates = {}
        if test is not None:
            x, y = test
            ref = logits(paths["fp32"], x)
            gates = {n: gate(ref, logits(p, x), y) for n, p in paths.items()}
        log(f"timing {len(paths)} files, threads {threads}, {rounds} rounds x {repeats} calls ...")
        lat = speed(paths, shape, tuple(threads), repeats, rounds)
    print_table(lat, gates, kern, tuple(threads))
    return {"lat": lat, "gates": gates, "kernels": kern}


def run_data(run_dir: Path, task: int) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    """(bundle folder, calibration images, test images, test labels) of ``task`` of a trained run:
    the export's own 512-image stratified calibration sample and every seen task's test set."""
    from edgecl_runtime.inputs.preprocess import spec_chw

    from edgecl.data.run_data import open_data
    from edgecl.exporting import calibration_source, test_sources
    from edgecl.run.run import open_run

    run = open_run(run_dir)
    data = open_data(run)
    try:
        chw = spec_chw(dict(run.input))
        calib = np.concatenate([x for x, _ in calibration_source(data, task, run.seed(task), chw).batches()])
        pairs = [b for src in test_sources(data, task, chw) for b in src.batches()]
        x, y = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
    finally:
        data.close()
    return run.store.task_dir(task) / "export", calib, x, y


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="trained run: its task's bundle, calibration sample and test sets")
    parser.add_argument("--task", type=int, default=5)
    parser.add_argument("--model", default="vit_tiny", help="without --run: bench_export model (random weights)")
    parser.add_argument("--threads", default="1,2", help="intra-op thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calib", type=int, default=64, help="without --run: random calibration images")
    parser.add_argument("--variants", help="comma-separated variant names, or 'key' (default: all)")
    args = parser.parse_args(argv)
    variants = pick(args.variants)
    threads = tuple(int(t) for t in args.threads.split(","))
    print(f"onnxruntime {ort.__version__}, {len(variants)} variants", flush=True)
    if args.run:
        bundle, calib, x, y = run_data(args.run, args.task)
        fp32, shape = bundle / "model.onnx", tuple(x.shape[1:])
        trt = bundle / "model.int8.onnx"
        print(f"run {args.run} task {args.task}: {len(calib)} calibration, {len(x)} test images {shape}", flush=True)
        int8_cpu_section(fp32, shape, calib, threads=threads, repeats=args.repeats, rounds=args.rounds,
                         test=(x, y), tensorrt_file=trt if trt.exists() else None, variants=variants)
        return 0
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_export import build_model
    from edgecl.exporters.onnx.export import export_onnx

    model, shape = build_model(args.model)
    with tempfile.TemporaryDirectory(prefix="int8_cpu_fp32_") as tmp:
        fp32 = Path(export_onnx(model, Path(tmp) / "model.onnx", input_shape=shape, opset=17))
        calib = np.random.default_rng(0).random((args.calib, *shape), dtype=np.float32)
        print(f"model {args.model} {shape}, random weights and calibration: speed only", flush=True)
        int8_cpu_section(Path(fp32), shape, calib, threads=threads, repeats=args.repeats, rounds=args.rounds,
                         variants=variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
