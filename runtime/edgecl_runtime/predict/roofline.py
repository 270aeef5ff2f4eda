"""Where an ONNX model's time goes on ONNX Runtime CPU, and how close it runs to the GEMM peak.

Why: a latency alone does not say whether a file is slow or the machine is; FLOPs over time,
against the same machine's GEMM peak (:mod:`.gemm_probe`), does. Both numbers come from ONNX
Runtime's own profiler on the graph as it runs (after its fusions): every executed kernel with its
op type, wall time and input/output shapes. So FLOPs are exact for whatever the file became
(``DynamicQuantizeMatMul``, ``FusedMatMul``, attention contrib ops, the patch ``Conv``), with no
``onnx`` package on the device and no shape inference. A matrix kernel on 4-D operands (batch,
heads, tokens, head size) is attention's ``q k^T`` or ``p v``: listed as ``<op> (attention)``.

FLOPs of a matrix kernel = ``2 * output elements * K``; ``K`` is the first operand's reduced
dimension (its last one, or the one before when the kernel transposes it: told apart by which of
the two equals the output's row count). ``Conv``: ``2 * output elements * (C_in/groups * kh * kw)``.
Attention contrib ops: ``q k^T`` and ``p v``, ``4 * B * S_q * S_kv * hidden`` (plus the packed
projection of ``Attention``). Every other op counts 0: element-wise and normalisation work is
small and memory bound, which is what the per-op time shares are for.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

MATRIX_OPS = ("MatMul", "FusedMatMul", "Gemm", "MatMulInteger", "MatMulIntegerToFloat",
              "DynamicQuantizeMatMul", "QLinearMatMul", "QGemm", "MatMulNBits")
ATTENTION_OPS = ("Attention", "MultiHeadAttention")
INT8_MATRIX_OPS = ("MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QLinearMatMul", "QGemm")


def _shapes(entries: Sequence[Mapping[str, Any]]) -> List[List[int]]:
    """``[{"float": [2, 3]}, ...]`` (the profiler's form) -> ``[[2, 3], ...]``."""
    return [list(next(iter(e.values()))) if e else [] for e in entries]


def kernel_flops(op: str, inputs: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]]) -> int:
    """FLOPs of one executed kernel (0 for ops that are not matrix products)."""
    if not outputs or not inputs or not inputs[0]:
        return 0
    out, a = outputs[0], inputs[0]
    size = int(np.prod(out, dtype=np.int64)) if out else 1
    if op in MATRIX_OPS:
        k = a[-1] if len(a) < 2 or len(out) < 2 or a[-2] == out[-2] else a[-2]
        return int(2 * size * k)
    if op == "Conv" and len(inputs) > 1 and inputs[1]:
        return int(2 * size * int(np.prod(inputs[1][1:], dtype=np.int64)))
    if op in ATTENTION_OPS and len(a) == 3:
        batch, seq, hidden = out[0], out[1], out[2]
        kv_seq = inputs[1][1] if op == "MultiHeadAttention" and len(inputs) > 1 and len(inputs[1]) == 3 else seq
        flops = 4 * batch * seq * kv_seq * hidden
        if op == "Attention" and len(inputs) > 1 and len(inputs[1]) == 2:  # packed QKV projection
            flops += 2 * batch * seq * inputs[1][0] * inputs[1][1]
        return int(flops)
    return 0


def read_profile(path: str) -> Dict[str, Any]:
    """``{"kernels": [{"name", "op", "us", "flops"}], "run_us": [...]}`` from an ORT profile file."""
    with open(path, encoding="utf-8") as fh:
        events = json.load(fh)
    kernels, runs = [], []
    for ev in events:
        if ev.get("cat") == "Session" and ev.get("name") == "model_run":
            runs.append(float(ev.get("dur", 0)))
        if ev.get("cat") != "Node" or not str(ev.get("name", "")).endswith("_kernel_time"):
            continue
        args = ev.get("args", {})
        op = args.get("op_name", "?")
        inputs = _shapes(args.get("input_type_shape", []))
        flops = kernel_flops(op, inputs, _shapes(args.get("output_type_shape", [])))
        if op in MATRIX_OPS and inputs and len(inputs[0]) == 4:  # (B, heads, S, d): q k^T or p v
            op += " (attention)"
        kernels.append({"name": ev["name"][:-len("_kernel_time")], "op": op, "us": float(ev.get("dur", 0)),
                        "flops": flops, "run": len(runs)})
    return {"kernels": kernels, "run_us": runs}


def profile_model(model: "bytes | str", x: np.ndarray, threads: int = 1, runs: int = 3,
                  options: Any = None, stat: str = "median") -> Dict[str, Any]:
    """Profile ``runs`` calls of ``model`` on ``x`` (after one unprofiled-warm-up call is dropped).

    Returns ``{"flops": per call, "run_us": median call, "ops": {op: {"us", "flops", "count"}}}``
    with each op's time per call (``stat``: see :func:`summarise`). ``options``: a prepared ``SessionOptions`` (settings
    under test); profiling is switched on in it here.
    """
    import onnxruntime as ort

    opts = options if options is not None else ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory(prefix="edgecl_profile_") as tmp:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        for _ in range(runs + 1):
            session.run(None, feed)
        prof = read_profile(session.end_profiling())
    return summarise(prof, skip_first=True, stat=stat)


def summarise(prof: Mapping[str, Any], skip_first: bool = True, stat: str = "median") -> Dict[str, Any]:
    """Per-op time per call (``stat``: "median" or "min" over the calls) and FLOPs per call from
    :func:`read_profile`'s records. "min" suits a shared machine: other jobs only ever add time to
    a kernel, so each op's fastest call is its own cost (the call's time is then its fastest too)."""
    reduce = np.min if stat == "min" else np.median
    first = 1 if skip_first and len(prof["run_us"]) > 1 else 0
    run_ids = range(first, len(prof["run_us"]))
    per_run: Dict[str, Dict[int, float]] = defaultdict(lambda: defaultdict(float))
    flops: Dict[str, int] = defaultdict(int)
    count: Dict[str, int] = defaultdict(int)
    for k in prof["kernels"]:
        if k["run"] != first:  # kernels belong to the run that ends after them
            if k["run"] in run_ids:
                per_run[k["op"]][k["run"]] += k["us"]
            continue
        per_run[k["op"]][k["run"]] += k["us"]
        flops[k["op"]] += k["flops"]
        count[k["op"]] += 1
    ops = {op: {"us": float(reduce([runs.get(r, 0.0) for r in run_ids])) if run_ids else 0.0,
                "flops": flops[op], "count": count[op]} for op, runs in per_run.items()}
    run_us = float(reduce([prof["run_us"][r] for r in run_ids])) if run_ids else 0.0
    return {"flops": int(sum(o["flops"] for o in ops.values())), "run_us": run_us, "ops": ops}


def roofline(flops: int, seconds: float, peak_gflops: float | None) -> Dict[str, Any]:
    """``{"gflop", "gflops", "peak_gflops", "peak_fraction"}`` for ``flops`` done in ``seconds``."""
    achieved = flops / seconds / 1e9 if seconds > 0 else 0.0
    frac = achieved / peak_gflops if peak_gflops else None
    return {"gflop": flops / 1e9, "gflops": achieved, "peak_gflops": peak_gflops, "peak_fraction": frac}


def flops_by_precision(ops: Mapping[str, Mapping[str, Any]]) -> Dict[str, int]:
    """``{"int8": FLOPs of integer matrix kernels, "float": every other FLOP}`` from
    :func:`summarise`'s ``ops``: an INT8 file still runs attention's products (and whatever its
    quantiser left float) in float, at the float peak."""
    split = {"int8": 0, "float": 0}
    for op, rec in ops.items():
        split["int8" if op.removesuffix(" (attention)") in INT8_MATRIX_OPS else "float"] += int(rec["flops"])
    return split


def roofline_fraction(split: Mapping[str, int], seconds: float, peaks: Mapping[str, float | None]) -> float | None:
    """The time ``split``'s FLOPs need, each precision at its peak GFLOP/s in ``peaks``, over the
    ``seconds`` they took: how close a mixed-precision file runs to what this machine can do for
    it. None where a precision with FLOPs has no peak or nothing was timed."""
    if seconds <= 0:
        return None
    needed = 0.0
    for precision, flops in split.items():
        if flops:
            peak = peaks.get(precision)
            if not peak or not np.isfinite(peak) or peak <= 0:
                return None
            needed += flops / (peak * 1e9)
    return needed / seconds


__all__ = ["kernel_flops", "read_profile", "profile_model", "summarise", "roofline", "MATRIX_OPS",
           "INT8_MATRIX_OPS", "flops_by_precision", "roofline_fraction"]
