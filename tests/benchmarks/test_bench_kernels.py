"""benchmarks/bench_kernels.py: each kernel rebuilt alone computes exactly what it computed inside
the file, attention's matrix kernels are told from weight GEMMs, and the floors add up (no timing
asserted)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecl.exporters.onnx.export import export_onnx
from edgecl.exporters.quantize.int8cpu import quantize_int8_cpu
from tests.benchmarks._scripts import load_script
from tests.factory import tiny_vit


@pytest.fixture(scope="module")
def bk():
    return load_script("bench_kernels")


@pytest.fixture(scope="module")
def cpu_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("kernels")
    fp32 = export_onnx(tiny_vit(num_classes=5).eval(), d / "model.onnx", input_shape=(1, 28, 28))
    return quantize_int8_cpu(Path(fp32), d / "model.int8cpu.onnx"), d


def _run_alone(bk, model, node, values, copies):
    inits = {i.name for i in model.graph.initializer}
    feeds = {i: values[i] for i in dict.fromkeys(node.input) if i and i not in inits}
    sess = bk._session(bk.one_node_model(model, node, values, copies), 1, optimise=False)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def test_every_kernel_alone_gives_back_what_it_gave_in_the_graph(bk, cpu_file):
    path, tmp = cpu_file
    model = bk.optimised_graph(Path(path), 1, tmp)
    ops = {n.op_type for n in model.graph.node}
    assert "DynamicQuantizeMatMul" in ops  # the graph ONNX Runtime runs, after its fusions
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    values = bk.capture(model, {model.graph.input[0].name: x})
    assert all(o in values for n in model.graph.node for o in n.output if o)
    for node in model.graph.node:
        got = _run_alone(bk, model, node, values, copies=3)
        assert sorted(got) == sorted(f"{o}__2" for o in node.output if o), node.op_type  # last copy only
        for o in node.output:
            if o:
                np.testing.assert_array_equal(got[f"{o}__2"], values[o], err_msg=f"{node.op_type} {o}")


def test_attention_matrix_kernels_are_labelled(bk, cpu_file):
    path, tmp = cpu_file
    model = bk.optimised_graph(Path(path), 1, tmp)
    inits = {i.name: None for i in model.graph.initializer}
    labels = [bk._label(n, inits) for n in model.graph.node]
    assert sum(lab.endswith("(attention)") for lab in labels) == 4  # q k^T and p v, 2 blocks
    assert sum(lab == "DynamicQuantizeMatMul" for lab in labels) == 8  # qkv, proj, fc1, fc2 per block


def test_floors_add_up(bk):
    peaks = {"int8": 800.0, "fp32": 200.0}
    acc = {"call_us": 100.0, "kernels": [("DynamicQuantizeMatMul", 30.0, 8_000_000),   # 10 µs at peak
                                          ("MatMul", 20.0, 2_000_000),                 # 10 µs at peak
                                          ("MatMul (attention)", 10.0, 1_000_000),     # 5 µs at peak
                                          ("Gelu", 15.0, 0)]}
    row = bk.rows_for("m", "int8cpu", 1, acc, peaks)
    header = ["model", "format", "batch", "call", "sum", "executor", "kernels", *bk.COLUMNS, "at peak", "roof"]
    cell = dict(zip(header, row))
    assert cell["sum"] == "75.0" and cell["executor"] == "+25.0" and cell["kernels"] == 4
    assert cell["GEMM int8"] == "30.0" and cell["GEMM fp"] == "20.0" and cell["attention"] == "10.0"
    assert cell["at peak"] == "70.0"  # 100 - 50 of weight GEMMs + 20 at peak
    assert cell["roof"] == "25.0"     # (10 + 10 + 5) / 100


def test_account_times_every_kernel_of_the_graph(bk, cpu_file):
    path, tmp = cpu_file
    x = np.random.default_rng(1).random((1, 1, 28, 28), dtype=np.float32)
    acc = bk.account(Path(path), x, 1, 0.001, tmp)
    nodes = len(bk.optimised_graph(Path(path), 1, tmp).graph.node)
    assert len(acc["kernels"]) == nodes and acc["call_us"] > 0
    assert all(us >= 0 and np.isfinite(us) for _, us, _ in acc["kernels"])
    flops = sum(fl for _, _, fl in acc["kernels"])
    assert flops > 0 and all(fl == 0 for op, _, fl in acc["kernels"] if op in ("Gelu", "Softmax", "Add"))


@pytest.fixture(scope="module")
def forms():
    return load_script("bench_kernel_forms")


def _form_out(bk, forms, nodes, inits, x, copies=1):
    model = forms._model(nodes, inits, list(x.shape), "out", copies)
    return bk._session(model, 1, optimise=False).run(None, {"x": x})[0]


def test_attention_forms_compute_the_same_thing(bk, forms):
    x = np.random.default_rng(2).standard_normal((2, 17, 3 * 128)).astype(np.float32)
    outs = [_form_out(bk, forms, n, i, x) for n, i in forms.attention_forms(17, 128, 4).values()]
    assert outs[0].shape == (2, 17, 128)
    for other in outs[1:]:
        np.testing.assert_allclose(other, outs[0], atol=1e-5)
    nodes, inits = next(iter(forms.attention_forms(17, 128, 4).values()))
    np.testing.assert_array_equal(_form_out(bk, forms, nodes, inits, x, copies=3), outs[0])  # copies are independent


def test_gemm_forms_map_k_to_n(bk, forms):
    x = np.random.default_rng(3).standard_normal((1, 17, 64)).astype(np.float32)
    for kind in ("DynamicQuantizeMatMul", "MatMulNBits", "MatMul"):
        assert _form_out(bk, forms, *forms.gemm_form(kind, 64, 96), x).shape == (1, 17, 96), kind
