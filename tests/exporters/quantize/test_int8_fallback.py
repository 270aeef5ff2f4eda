"""INT8 fallback: MatMul/Gemm FLOPs, float re-emission of a QDQ graph, the search loop, end to end."""
from __future__ import annotations

import itertools

import numpy as np
import onnx
import pytest
from tests.exporters.conftest import export_with
from edgecl.exporters.quantize.int8 import nonzero_zero_points, quantize_int8
from tests.exporters.conftest import FakeGate, verdict
from edgecl.exporters.quantize.fallback import (
    Deadline,
    rank_by_sensitivity,
    run_fallback,
    search_float_nodes,
    sensitivity_images,
)
from edgecl.exporters.quantize.float_nodes import keep_float
from edgecl.exporters.quantize.flops import (
    matmul_flops,
    quantized_fraction,
    quantized_nodes,
)
from edgecl.exporters.onnx.export import export_onnx
from edgecl.exporters.parity.ort_session import onnx_logits
from edgecl.exporters.parity.reference import torch_logits
from onnx import TensorProto, helper, numpy_helper


def _tiny_graph() -> onnx.ModelProto:
    """X (N,3,8) -> MatMul W1 (8,6) -> (N,3,6); its product with its own transpose (N,3,3);
    Reshape (N,9) -> Gemm W2 (4,9)^T -> (N,4)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.random((8, 6), dtype=np.float32), "w1"),
             numpy_helper.from_array(rng.random((4, 9), dtype=np.float32), "w2"),
             numpy_helper.from_array(np.array([-1, 9], dtype=np.int64), "shape")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["a"], name="mm_weight"),
             helper.make_node("Transpose", ["a"], ["at"], perm=[0, 2, 1], name="t"),
             helper.make_node("MatMul", ["a", "at"], ["b"], name="mm_act"),
             helper.make_node("Reshape", ["b", "shape"], ["r"], name="r"),
             helper.make_node("Gemm", ["r", "w2"], ["y"], transB=1, name="gemm")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_matmul_flops_per_image_from_shapes():
    flops = matmul_flops(_tiny_graph())
    assert flops == {"mm_weight": 2 * 3 * 8 * 6, "mm_act": 2 * 3 * 6 * 3, "gemm": 2 * 1 * 9 * 4}
    assert quantized_fraction(flops, ["mm_weight"]) == pytest.approx(288 / 468)
    assert quantized_fraction(flops, []) == 0.0 and quantized_fraction({}, []) == 1.0


def test_unnamed_matmul_is_one_line_error():
    model = _tiny_graph()
    model.graph.node[0].name = ""
    with pytest.raises(ValueError, match="no name"):
        matmul_flops(model)


@pytest.fixture(scope="module")
def qdq(setup, tmp_path_factory):
    d = tmp_path_factory.mktemp("fallback")
    src = export_onnx(setup.model, d / "m.onnx", input_shape=(1, 28, 28))
    return src, quantize_int8(src, d / "m.int8.onnx", setup.calib)


def test_keep_float_reemits_a_symmetric_qdq_graph(setup, qdq):
    src, dst = qdq
    fp32, q = onnx.load(str(src)), onnx.load(str(dst))
    quantized = quantized_nodes(q)
    assert len(quantized) == 8  # 2 blocks x (qkv, proj, fc1, fc2); attention, patch embedding, head stay float
    model = keep_float(q, fp32, quantized[:2])
    onnx.checker.check_model(model, full_check=True)
    assert quantized_nodes(model) == quantized[2:] and nonzero_zero_points(model) == []
    assert len(model.graph.initializer) < len(q.graph.initializer)  # the int8 weights of the two are gone
    every = keep_float(q, fp32, quantized)
    x = setup.golden[0]
    assert np.abs(_logits(every, x) - onnx_logits(src, x)).max() < 1e-4  # all float: the FP32 graph again
    with pytest.raises(ValueError, match="not a node"):
        keep_float(q, fp32, ["/no/such/MatMul"])


def test_sensitivity_ranks_every_int8_node_most_sensitive_first(setup, qdq):
    src, dst = qdq
    fp32, q = onnx.load(str(src)), onnx.load(str(dst))
    quantized = quantized_nodes(q)
    x = sensitivity_images(setup.calib, 64)
    assert len(x) == 64 and np.array_equal(x[-1], setup.calib[-1])  # spread over the whole sample
    ranked = rank_by_sensitivity(q, fp32, quantized, x)
    scores = [score for _, score in ranked]
    assert sorted(name for name, _ in ranked) == sorted(quantized) and scores == sorted(scores, reverse=True)
    assert scores[0] > 0  # keeping the top node float removes error
    late = rank_by_sensitivity(q, fp32, quantized, x, deadline=Deadline(0.0))
    assert [name for name, _ in late] == quantized and all(np.isnan(score) for _, score in late)


def _logits(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    from edgecl.exporters.quantize.fallback import model_runner
    return model_runner(model)(x)


def _stub(needed: set[str], calls: list[list[str]]):
    def gate(nodes):
        calls.append(list(nodes))
        return verdict(needed <= set(nodes), 1.0, 0.1)
    return gate


RANKED = ["a", "b", "c", "d", "e", "f"]
FLOPS = {name: 10 for name in RANKED} | {"attn": 5}


@pytest.mark.parametrize("needed, chosen", [
    ({"a"}, ["a"]),
    ({"a", "b"}, ["a", "b"]),
    ({"b"}, ["a", "b"]),  # a prefix of the ranking, never a skip
])
def test_search_keeps_the_most_sensitive_first_and_stops_at_a_pass(needed, chosen):
    calls: list[list[str]] = []
    result = search_float_nodes(RANKED, FLOPS, RANKED, _stub(needed, calls))
    assert result.passed and result.float_nodes == chosen and result.reason == ""
    assert all(c == RANKED[: len(c)] for c in calls)  # always a prefix of the ranking
    assert [k for k, _ in result.trials] == [len(c) for c in calls]
    assert result.gate.passed


def test_search_doubles_then_bisects():
    calls: list[list[str]] = []
    result = search_float_nodes(RANKED, {n: 1 for n in RANKED}, RANKED, _stub({"a", "b", "c"}, calls),
                                min_fraction=0.0)
    assert [len(c) for c in calls] == [1, 2, 4, 3] and result.float_nodes == ["a", "b", "c"]


def test_search_refuses_beyond_half_the_flops():
    calls: list[list[str]] = []
    # 6 x 10 quantised + 5 float of 65: at most 2 more may go float (35/65 >= 0.5, 25/65 < 0.5)
    result = search_float_nodes(RANKED, FLOPS, RANKED, _stub({"a", "b", "c"}, calls))
    assert not result.passed and [len(c) for c in calls] == [1, 2]
    assert "refused" in result.reason and "50 %" in result.reason and result.float_nodes == ["a", "b"]


def test_search_stops_at_its_deadline():
    ticks = itertools.count()
    result = search_float_nodes(RANKED, {n: 1 for n in RANKED}, RANKED, _stub({"f"}, []),
                                min_fraction=0.0, deadline=Deadline(2.5, clock=lambda: next(ticks)))
    assert not result.passed and "time limit" in result.reason and [k for k, _ in result.trials] == [1, 2, 4]


def test_run_fallback_refuses_and_keeps_the_file(setup, qdq, tmp_path):
    src, dst = qdq
    path = tmp_path / "m.int8.onnx"
    path.write_bytes(dst.read_bytes())
    first = verdict(False, 0.5, reason="level 2: stub")
    record, quant = run_fallback(src, path, setup.calib, FakeGate(lambda run: verdict(False)), first)
    fields = quant.to_json()
    assert not record.passed and "level 2: stub" in record.reason and "refused" in record.reason
    assert fields["float_nodes"] == [] and path.read_bytes() == dst.read_bytes()
    assert fields["quantized_matmul_fraction"] > 0.9 and fields["fallback"]["trials"]
    assert fields["fallback"]["first_gate"]["top1_agreement"] == 0.5


def test_export_bundle_int8_fallback_passes_a_gate_it_first_failed(setup, qdq, tmp_path):
    _, dst = qdq
    golden = setup.golden[0]
    first_diff = float(np.abs(onnx_logits(dst, golden) - torch_logits(setup.model, golden)).max())
    strict = {"int8": {"max_abs_diff": 0.5 * first_diff}}  # the plain INT8 file fails level 1
    manifest = export_with(setup.model, tmp_path / "b", classes=setup.classes, input_spec=setup.spec,
                             golden=setup.golden, test_sets=setup.test_sets, calib=setup.calib,
                             formats={"int8"}, thresholds=strict)
    entry = manifest["formats"]["int8"]
    assert entry["status"] == "passed" and entry["gate"]["max_abs_diff"] <= 0.5 * first_diff
    assert entry["fallback"]["first_gate"]["passed"] is False
    assert entry["float_nodes"] and entry["quantized_matmul_fraction"] >= 0.5 and entry["fallback_seconds"] > 0
    shipped = onnx.load(str(tmp_path / "b" / entry["file"]))
    assert not set(entry["float_nodes"]) & set(quantized_nodes(shipped)) and nonzero_zero_points(shipped) == []
