"""Other forms of the CPU file's kernels, timed alone at one model's shapes: is any cheaper?

    python benchmarks/bench_kernel_forms.py                       # default model: 17 tokens, width 128, 4 heads
    python benchmarks/bench_kernel_forms.py --tokens 197 --width 192 --heads 3 --batch 1

Why: before rewriting the shipped CPU file, each candidate form of a block's pieces is timed on
its own with the method of ``bench_kernels.py`` (R copies against one; the fixed cost of a ``run``
cancels): attention as exported by timm (Reshape, 5-D Transpose, Split, Squeeze), a leaner layout
(Reshape, 4-D Transpose, Split) and ONNX Runtime's ``MultiHeadAttention``; GELU exact and
``FastGelu``; the weight GEMMs of a block as ``DynamicQuantizeMatMul`` (what the CPU file runs),
8-bit ``MatMulNBits`` and float ``MatMul``; and the dispatch of a trivial ``Add`` and a LayerNorm.
Forms that compute the same thing are timed on the same inputs; weights are random.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bench_kernels import _session, median_us
from timing import print_table

OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]


def _ints(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _model(nodes, inits, shape, out: str, copies: int) -> onnx.ModelProto:
    """``copies`` copies of the subgraph ``nodes`` on input ``x``; the last copy's ``out`` is returned."""
    shared = {i.name for i in inits} | {"x", ""}
    all_nodes = []
    for c in range(copies):
        rename = lambda n: n if n in shared else f"{n}__{c}"  # noqa: E731
        for k, node in enumerate(nodes):
            copy = helper.make_node(node.op_type, [rename(i) for i in node.input], [rename(o) for o in node.output],
                                    name=f"n{c}_{k}", domain=node.domain)
            copy.attribute.extend(node.attribute)
            all_nodes.append(copy)
    graph = helper.make_graph(all_nodes, "form", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [onnx.ValueInfoProto(name=f"{out}__{copies - 1}")], initializer=inits)
    return helper.make_model(graph, opset_imports=OPSETS)


def form_us(nodes, inits, shape, out: str = "out", budget: float = 0.3) -> float:
    """µs of one copy of the subgraph, the run call's fixed cost cancelled."""
    x = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    one = median_us(_session(_model(nodes, inits, shape, out, 1), 1, False), x, budget)
    many = median_us(_session(_model(nodes, inits, shape, out, 21), 1, False), x, budget)
    return (many - one) / 20


def attention_forms(s: int, d: int, h: int) -> dict[str, tuple]:
    """qkv (1, s, 3d) -> attention output (1, s, d) in three forms."""
    dh, n = d // h, helper.make_node
    score = n("FusedMatMul", ["q", "k"], ["sc"], domain="com.microsoft", transB=1, alpha=dh ** -0.5)
    tail = [score, n("Softmax", ["sc"], ["p"], axis=-1), n("MatMul", ["p", "v"], ["o4"]),
            n("Transpose", ["o4"], ["o4t"], perm=[0, 2, 1, 3]), n("Reshape", ["o4t", "c_out"], ["out"])]
    exported = [n("Reshape", ["x", "c_5d"], ["r"]), n("Transpose", ["r"], ["t"], perm=[2, 0, 3, 1, 4]),
                n("Split", ["t"], ["q5", "k5", "v5"], axis=0),
                *(n("Squeeze", [f"{a}5", "c_0"], [a]) for a in "qkv"), *tail]
    lean = [n("Reshape", ["x", "c_4d"], ["r"]), n("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3]),
            n("Split", ["t"], ["q", "k", "v"], axis=1), *tail]
    mha = [n("Split", ["x"], ["q", "k", "v"], axis=2),
           n("MultiHeadAttention", ["q", "k", "v"], ["out"], domain="com.microsoft", num_heads=h)]
    consts = [_ints("c_5d", [0, s, 3, h, dh]), _ints("c_4d", [0, s, 3 * h, dh]), _ints("c_0", [0]),
              _ints("c_out", [0, s, d])]
    return {f"attention as exported ({len(exported)} kernels)": (exported, consts),
            f"attention, lean layout ({len(lean)} kernels)": (lean, consts),
            "attention as MultiHeadAttention (2 kernels)": (mha, [])}


def gemm_form(kind: str, k: int, n: int) -> tuple:
    """One weight GEMM ``(.., k) -> (.., n)`` as ``kind``."""
    rng = np.random.default_rng(1)
    if kind == "DynamicQuantizeMatMul":
        inits = [numpy_helper.from_array(rng.integers(-127, 127, (k, n)).astype(np.int8), "w"),
                 numpy_helper.from_array(np.full(n, 0.01, np.float32), "s"),
                 numpy_helper.from_array(np.zeros(n, np.float32), "b")]
        return [helper.make_node(kind, ["x", "w", "s", "", "b"], ["out"], domain="com.microsoft")], inits
    if kind == "MatMulNBits":
        blocks = (k + 31) // 32
        inits = [numpy_helper.from_array(rng.integers(0, 255, (n, blocks, 32)).astype(np.uint8), "w"),
                 numpy_helper.from_array(np.full(n * blocks, 0.01, np.float32), "s")]
        return [helper.make_node(kind, ["x", "w", "s"], ["out"], domain="com.microsoft", K=k, N=n, bits=8,
                                 block_size=32, accuracy_level=4)], inits
    return [helper.make_node("MatMul", ["x", "w"], ["out"])], [numpy_helper.from_array(
        rng.standard_normal((k, n)).astype(np.float32), "w")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=17)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)
    b, s, d = args.batch, args.tokens, args.width
    rows = [[name, f"{form_us(nodes, inits, [b, s, 3 * d]):.2f}"]
            for name, (nodes, inits) in attention_forms(s, d, args.heads).items()]
    for op in ("Gelu", "FastGelu"):
        rows.append([f"GELU as {op}", f"{form_us([helper.make_node(op, ['x'], ['out'], domain='com.microsoft')], [], [b, s, 4 * d]):.2f}"])
    affine = [numpy_helper.from_array(np.ones(d, np.float32), "g"), numpy_helper.from_array(np.zeros(d, np.float32), "bb")]
    rows.append(["LayerNormalization", f"{form_us([helper.make_node('LayerNormalization', ['x', 'g', 'bb'], ['out'], axis=-1)], affine, [b, s, d]):.2f}"])
    rows.append(["Add (dispatch of a trivial kernel)", f"{form_us([helper.make_node('Add', ['x', 'x'], ['out'])], [], [b, s, d]):.2f}"])
    for kind in ("DynamicQuantizeMatMul", "MatMulNBits", "MatMul"):
        shapes = ((d, 3 * d), (d, d), (d, 4 * d), (4 * d, d))  # qkv, proj, fc1, fc2
        total = sum(form_us(*gemm_form(kind, k, n), [b, s, k]) for k, n in shapes)
        rows.append([f"a block's four weight GEMMs as {kind}", f"{total:.2f}"])
    print_table(f"Kernel forms alone, µs (batch {b}, {s} tokens, width {d}, {args.heads} heads, 1 thread)",
                ["form", "µs"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
