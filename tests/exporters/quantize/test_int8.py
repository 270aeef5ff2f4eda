"""INT8: stratified calibration sample, symmetric QDQ graph (zero points 0), per-channel weights."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgecl.exporters.quantize import Int8Options
from edgecl.exporters.quantize.int8 import activation_matmuls, nonzero_zero_points, quant_nodes, quantize_int8
from edgecl.exporters.onnx.export import export_onnx
from edgecl.exporters.parity.ort_session import onnx_logits
from edgecl.exporters.parity.sampling import split_quota, stratified_sample
from edgecl_runtime.bundle.gate import DEFAULT_THRESHOLDS


def test_stratified_sample_is_balanced_and_reproducible():
    labels = np.array([0] * 100 + [1] * 50 + [2] * 3)
    idx = stratified_sample(labels, 30, seed=7)
    assert len(idx) == 30 and len(set(idx)) == 30
    assert np.bincount(labels[idx]).tolist() == [14, 13, 3]  # 3 all of class 2, rest split evenly
    assert np.array_equal(idx, stratified_sample(labels, 30, seed=7))
    assert not np.array_equal(idx, stratified_sample(labels, 30, seed=8))
    assert len(stratified_sample(labels, 10_000)) == len(labels)
    assert np.bincount(labels[stratified_sample(labels, 7)]).tolist() == [3, 2, 2]


def test_split_quota_and_bad_n():
    assert split_quota([5, 5, 5], 7) == [3, 2, 2]
    assert split_quota([1, 10], 6) == [1, 5]
    with pytest.raises(ValueError):
        stratified_sample(np.zeros(4), -1)


@pytest.fixture(scope="module")
def quantized(setup, tmp_path_factory):
    d = tmp_path_factory.mktemp("int8")
    src = export_onnx(setup.model, d / "m.onnx", input_shape=(1, 28, 28))
    return src, quantize_int8(src, d / "m.int8.onnx", setup.calib)


def test_qdq_symmetric_int8(quantized):
    _, dst = quantized
    m = onnx.load(str(dst))
    ops = [n.op_type for n in quant_nodes(m)]
    assert ops.count("QuantizeLinear") > 0 and ops.count("DequantizeLinear") > 0
    assert nonzero_zero_points(m) == []
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    zps = [inits[n.input[2]] for n in quant_nodes(m)]
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps)
    io = list(m.graph.input) + list(m.graph.output)
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for i in io)


def test_weights_are_int8_per_channel(quantized):
    _, dst = quantized
    m = onnx.load(str(dst))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    weight_dq = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    assert weight_dq, "weights should be stored as int8 initialisers feeding DequantizeLinear"
    for n in weight_dq:
        assert inits[n.input[0]].dtype == np.int8
        assert inits[n.input[1]].size > 1, f"{n.name}: one scale per output channel expected"


def test_zero_point_check_can_fail(quantized):
    _, dst = quantized
    m = onnx.load(str(dst))
    node = quant_nodes(m)[0]
    zp = next(t for t in m.graph.initializer if t.name == node.input[2])
    zp.CopyFrom(numpy_helper.from_array(np.full(numpy_helper.to_array(zp).shape, 3, np.int8), zp.name))
    assert nonzero_zero_points(m)


def test_int8_logits_agree(setup, quantized):
    src, dst = quantized
    x = np.concatenate([t[0] for t in setup.test_sets])
    ref, out = onnx_logits(src, x), onnx_logits(dst, x)
    assert np.mean(ref.argmax(1) == out.argmax(1)) >= DEFAULT_THRESHOLDS["int8"]["top1_agreement"]  # the product gate


def test_bad_calibration_is_refused(quantized, tmp_path):
    src, _ = quantized
    with pytest.raises(ValueError, match="calibration data must be"):
        quantize_int8(src, tmp_path / "q.onnx", np.zeros((4, 3, 28, 28), np.float32))
    with pytest.raises(ValueError, match="calibration method"):
        quantize_int8(src, tmp_path / "q.onnx", np.zeros((4, 1, 28, 28), np.float32), Int8Options(method="magic"))
    assert not (tmp_path / "q.onnx").exists()


def _dq_fed(model: onnx.ModelProto) -> set[str]:
    """Names of nodes that read at least one DequantizeLinear output."""
    dq_out = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return {n.name for n in model.graph.node if dq_out.intersection(n.input)}


def test_attention_matmuls_stay_float_by_default(setup, quantized, tmp_path):
    src, dst = quantized
    attn = activation_matmuls(onnx.load(str(src)))
    assert len(attn) == 2 * 2  # q k^T and softmax(.) v in each of the 2 blocks
    weight_mm = [n.name for n in onnx.load(str(src)).graph.node if n.op_type == "MatMul" and n.name not in attn]
    fed = _dq_fed(onnx.load(str(dst)))
    assert not fed.intersection(attn) and set(weight_mm) <= fed
    with_attn = quantize_int8(src, tmp_path / "all.onnx", setup.calib[:64], Int8Options(attention_matmuls=True))
    assert set(attn) <= _dq_fed(onnx.load(str(with_attn)))


def test_int8_settings_record_and_refuse_unknown():
    s = Int8Options.from_mapping({"method": "percentile"}).to_json()
    assert s["method"] == "percentile" and s["attention_matmuls"] is False
    assert s["op_types"] == ["MatMul", "Conv", "Gemm"]
    with pytest.raises(ValueError, match="unknown int8 option"):
        Int8Options.from_mapping({"per_tensor": True})


def test_histogram_calibration_with_uneven_batches(setup, quantized, tmp_path):
    src, _ = quantized
    dst = quantize_int8(src, tmp_path / "p.onnx", setup.calib[:37], Int8Options(method="percentile", batch_size=32))
    assert nonzero_zero_points(onnx.load(str(dst))) == [] and quant_nodes(onnx.load(str(dst)))
