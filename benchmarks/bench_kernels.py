"""Kernel by kernel: every kernel of a file timed alone, summed, against the whole call.

    python benchmarks/bench_kernels.py --run RUN --task 5                 # default model's shipped files
    python benchmarks/bench_kernels.py --models vit_tiny --formats fp32,int8cpu

Why: ONNX Runtime's profiler records every kernel, which at batch 1 makes a 0.2 ms call take
about 1 ms, so its shares (``bench_profile.py``) overstate dispatch on small calls. Here the graph
ONNX Runtime actually runs (its optimised form, saved by the session) is executed once with every
intermediate tensor kept; then each kernel is rebuilt as a one-node model on those very inputs and
timed unprofiled. A kernel's time is ``(t(R copies) - t(1 copy)) / (R - 1)``, so the fixed cost of a
``run`` call cancels and what stays is the kernel plus its share of the executor's per-node work.
The sum over kernels is set against the whole call timed the same way: the difference is what the
executor costs beyond its kernels. "Weight GEMMs at peak" is the call's time if every weight
GEMM ran at the machine's measured GEMM peak of its precision (the probe of ``edgecl-rt bench``)
and nothing else changed: the floor that faster GEMMs alone could reach. "% of roofline" sets the
call against the time every matrix kernel (attention's included) would take at the peak of its
own precision, int8 or float: how close a mixed-precision file runs to what this machine can do
for it, where ``edgecl-rt bench`` sets all of a file's FLOPs against one precision's peak.
The "executor" column is the call minus the kernels' sum: ONNX Runtime's work between kernels
and what a kernel loses inside the whole graph (its weights no longer in cache).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from bench_profile import KINDS, build_files, kind_of, run_files
from edgecl_runtime.predict.gemm_probe import gemm_peak
from edgecl_runtime.predict.roofline import kernel_flops
from timing import print_table

INT8_GEMMS = KINDS["GEMM int8"]
FLOAT_GEMMS = KINDS["GEMM fp"]
MATRIX = (*INT8_GEMMS, *FLOAT_GEMMS)


def _session(model: onnx.ModelProto | str, threads: int, optimise: bool, save: str | None = None):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if not optimise:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if save:
        so.optimized_model_filepath = save
    src = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def median_us(sess, feeds: dict, budget_s: float) -> float:
    """Median wall time of ``sess.run`` in µs: a warm-up, then calls until ``budget_s`` is spent."""
    for _ in range(5):
        sess.run(None, feeds)
    times, end = [], time.perf_counter() + budget_s
    while len(times) < 15 or (time.perf_counter() < end and len(times) < 3000):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e6


def optimised_graph(path: Path, threads: int, tmp: Path) -> onnx.ModelProto:
    """The graph ONNX Runtime runs for ``path`` (after its fusions, on this machine)."""
    out = tmp / f"{path.stem}.optimised.onnx"
    _session(str(path), threads, optimise=True, save=str(out))
    return onnx.load(str(out))


def capture(model: onnx.ModelProto, feeds: dict) -> dict[str, np.ndarray]:
    """Every tensor the graph computes for ``feeds``, by name (graph inputs included)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    kept = {o.name for o in probe.graph.output}
    names = [o for n in probe.graph.node for o in n.output if o]
    probe.graph.output.extend(onnx.ValueInfoProto(name=o) for o in names if o not in kept)
    sess = _session(probe, 1, optimise=False)
    outs = sess.run(None, feeds)
    values = dict(zip([o.name for o in sess.get_outputs()], outs))
    values.update(feeds)
    return values


def one_node_model(model: onnx.ModelProto, node: onnx.NodeProto, values: dict, copies: int) -> onnx.ModelProto:
    """``copies`` copies of ``node`` on the same inputs, each with its own outputs; only the last
    copy's are graph outputs, so the others live in ONNX Runtime's planned memory as in the file."""
    inits = {i.name: i for i in model.graph.initializer}
    used = [i for i in node.input if i]
    graph_inputs = [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(values[i].dtype),
                                                  values[i].shape) for i in dict.fromkeys(used) if i not in inits]
    nodes = []
    for c in range(copies):
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = f"k{c}"
        del copy.output[:]
        copy.output.extend(f"{o}__{c}" if o else "" for o in node.output)
        nodes.append(copy)
    outputs = [onnx.ValueInfoProto(name=o) for o in nodes[-1].output if o]
    graph = helper.make_graph(nodes, "kernel", graph_inputs, outputs,
                              initializer=[inits[i] for i in dict.fromkeys(used) if i in inits])
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)


def kernel_us(model, node, values, threads: int, budget_s: float) -> float:
    """One kernel's time in µs, the fixed cost of a run call cancelled out."""
    weights = {t.name for t in model.graph.initializer}
    feeds = {i: values[i] for i in dict.fromkeys(node.input) if i and i in values and i not in weights}
    single = median_us(_session(one_node_model(model, node, values, 1), threads, False), feeds, budget_s)
    copies = 3 if single > 150 else 21
    many = median_us(_session(one_node_model(model, node, values, copies), threads, False), feeds, budget_s)
    return max(0.0, (many - single) / (copies - 1))


def node_flops(node, values) -> int:
    shape = lambda n: list(values[n].shape) if n in values else []  # noqa: E731
    return kernel_flops(node.op_type, [shape(i) for i in node.input], [shape(o) for o in node.output if o])


def _label(node: onnx.NodeProto, inits: dict) -> str:
    """The op type; a matrix kernel with no weight operand is attention's ``q k^T`` or ``p v``."""
    matrix = node.op_type in INT8_GEMMS or node.op_type in FLOAT_GEMMS
    if matrix and len(node.input) > 1 and node.input[1] not in inits:
        return f"{node.op_type} (attention)"
    return node.op_type


def account(path: Path, x: np.ndarray, threads: int, budget_s: float, tmp: Path) -> dict:
    """{"call_us", "kernels": [(op, us, flops)], "int8_flops", "float_flops"} for one file and input."""
    model = optimised_graph(path, threads, tmp)
    name = model.graph.input[0].name
    values = capture(model, {name: x})
    init_vals = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    shapes = {**values, **init_vals}
    kernels = [(_label(n, init_vals), kernel_us(model, n, values, threads, budget_s), node_flops(n, shapes))
               for n in model.graph.node]
    call = median_us(_session(str(path), threads, True), {name: x}, budget_s * 20)
    return {"call_us": call, "kernels": kernels}


def peak_us(op: str, flops: int, peaks: dict) -> float:
    """A matrix kernel's time at the measured GEMM peak of its precision, in µs."""
    base = op.removesuffix(" (attention)")
    return flops / peaks["int8" if base in INT8_GEMMS else "fp32"] / 1e3


def rows_for(label: str, fmt: str, batch: int, acc: dict, peaks: dict) -> list:
    """One table row: the call, the kernels' sum and its split by kind, and the two floors."""
    by_kind: dict[str, float] = {}
    for op, us, _ in acc["kernels"]:
        by_kind[kind_of(op)] = by_kind.get(kind_of(op), 0.0) + us
    total = sum(by_kind.values())
    call = acc["call_us"]
    weights = [(op, fl) for op, _, fl in acc["kernels"] if fl and kind_of(op).startswith("GEMM")]
    at_peak = call - by_kind.get("GEMM int8", 0.0) - by_kind.get("GEMM fp", 0.0) \
        + sum(peak_us(op, fl, peaks) for op, fl in weights)
    roofline = sum(peak_us(op, fl, peaks) for op, _, fl in acc["kernels"] if fl and op.split()[0] in MATRIX)
    return [label, fmt, batch, f"{call:.1f}", f"{total:.1f}", f"{call - total:+.1f}", len(acc["kernels"]),
            *(f"{by_kind.get(k, 0.0):.1f}" for k in COLUMNS), f"{at_peak:.1f}", f"{100 * roofline / call:.1f}"]


COLUMNS = (*KINDS, "other")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="default")
    parser.add_argument("--run", help="trained run: the default model's shipped files (task --task)")
    parser.add_argument("--task", type=int, default=5)
    parser.add_argument("--formats", default="fp32,int8cpu")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budget", type=float, default=0.15, help="seconds of timing per kernel model")
    args = parser.parse_args(argv)
    peaks = {p: gemm_peak(p, args.threads)["gflops"] for p in ("fp32", "int8")}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_kernels_") as tmp:
        for name in args.models.split(","):
            folder = Path(tmp) / name
            folder.mkdir()
            if name == "default" and args.run:
                files, shape = run_files(args.run, args.task)
                label = f"default (run task {args.task})"
            else:
                files, shape = build_files(name, folder, 16)
                label = f"{name} @{shape[-1]}" + (" random" if name != "default" else "")
            for fmt in args.formats.split(","):
                if fmt not in files:
                    continue
                for b in map(int, args.batches.split(",")):
                    x = np.random.default_rng(b).random((b, *shape), dtype=np.float32)
                    acc = account(files[fmt], x, args.threads, args.budget if b == 1 else args.budget * 3, folder)
                    rows.append(rows_for(label, fmt, b, acc, peaks))
                    print(f"{label} {fmt} b{b}: call {acc['call_us']:.1f} us", flush=True)
    print(f"\nonnxruntime {ort.__version__}, {args.threads} thread(s); GEMM peak GFLOP/s: "
          + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()))
    print_table("Kernels timed alone, µs per call (whole call timed the same way)",
                ["model", "format", "batch", "call", "sum of kernels", "executor", "kernels",
                 *COLUMNS, "weight GEMMs at peak", "% of roofline"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
