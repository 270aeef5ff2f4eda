"""benchmarks/int8_cpu_variants.py: every INT8 variant is built from a tiny trained ViT, runs on ORT CPU,
has the op types its name promises, and agrees with FP32 loosely. No timing assertions."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from edgecl.exporters.onnx.export import export_onnx
from onnx import numpy_helper

from tests.exporters.conftest import one_thread, synthetic, tiny_model, train

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "int8_cpu_variants.py"
spec = importlib.util.spec_from_file_location("int8_cpu_variants", SCRIPT)
icv = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = icv  # dataclasses look their module up while the class is built
spec.loader.exec_module(icv)
BY_NAME = {v.name: v for v in icv.VARIANTS}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("int8cpu")
    with one_thread():
        x, y = synthetic(40, seed=0)
        model = train(tiny_model(), x, y)
        fp32 = export_onnx(model, out / "model.onnx", input_shape=(1, 28, 28), opset=17)
    calib = synthetic(16, seed=1)[0]
    paths = icv.build_variants(Path(fp32), out, calib)
    return Path(fp32), paths, synthetic(25, seed=2)


def ops(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def zero_point_types(path: Path) -> set[int]:
    """Element types of the zero points of the activation QuantizeLinear nodes."""
    model = onnx.load(str(path))
    init = {t.name: t for t in model.graph.initializer}
    return {init[n.input[2]].data_type for n in model.graph.node
            if n.op_type == "QuantizeLinear" and len(n.input) > 2 and n.input[2] in init}


def quantised_matmuls(path: Path) -> int:
    return sum(n.op_type in ("QLinearMatMul", "MatMulInteger") for n in onnx.load(str(path)).graph.node)


def test_every_variant_is_built_and_agrees_with_fp32(built):
    fp32, paths, (x, y) = built
    assert list(paths) == [v.name for v in icv.VARIANTS]  # none failed to build
    ref = icv.logits(fp32, x)
    for name, path in paths.items():
        q = icv.logits(path, x)
        assert q.shape == ref.shape and np.isfinite(q).all(), name
        g = icv.gate(ref, q, y)
        assert g["agreement"] >= 0.9 and g["max_dlogit"] < 0.25 * np.abs(ref).max(), (name, g)


@pytest.mark.parametrize("name", [v.name for v in icv.VARIANTS])
def test_variant_has_the_ops_its_name_promises(built, name):
    _, paths, _ = built
    v, path = BY_NAME[name], paths[name]
    have = ops(path)
    quantised = [n.name for n in onnx.load(str(path)).graph.node
                 if n.op_type in ("QLinearMatMul", "MatMulInteger", "QLinearConv", "ConvInteger", "QGemm")]
    assert "Conv" in have and not [n for n in quantised if "/head/" in n or "/patch_embed/" in n], \
        "patch embedding and head stay float"
    if v.kind == "dynamic":
        assert {"MatMulInteger", "DynamicQuantizeLinear"} <= have and "QuantizeLinear" not in have
    elif v.fmt == icv.QOP:
        assert "QLinearMatMul" in have
    else:
        assert {"QuantizeLinear", "DequantizeLinear"} <= have and "QLinearMatMul" not in have
        want = onnx.TensorProto.UINT8 if v.act == icv.U8 else onnx.TensorProto.INT8
        assert zero_point_types(path) == {want}
    if v.fmt == icv.QOP or v.kind == "dynamic":
        weight_matmuls = quantised_matmuls(paths["qop-u8s8-pt"])
        assert quantised_matmuls(path) == weight_matmuls + (2 * 2 if v.attention else 0)  # depth 2


def test_per_channel_and_reduce_range_show_in_the_weights(built):
    _, paths, _ = built

    def weight_scales(path: Path) -> list[int]:
        model = onnx.load(str(path))
        init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        return [init[n.input[1]].size for n in model.graph.node
                if n.op_type == "DequantizeLinear" and init.get(n.input[0]) is not None
                and init[n.input[0]].dtype in (np.int8, np.uint8) and init[n.input[0]].ndim == 2]

    assert max(weight_scales(paths["qdq-u8s8-pc"])) > 1 and set(weight_scales(paths["qdq-u8s8-pt"])) == {1}
    init = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(paths["qdq-u8s8-pt-rr"])).graph.initializer}
    weights = [a for a in init.values() if a.dtype == np.int8 and a.ndim == 2]
    assert weights and max(int(np.abs(a.astype(np.int32)).max()) for a in weights) <= 64  # 7-bit range


def test_gate_and_shipping_rule():
    ref = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]], np.float32)
    labels = np.array([0, 1, 0, 0])
    g = icv.gate(ref, ref + 0.1, labels)
    assert g == {"agreement": 1.0, "dacc_pp": 0.0, "max_dlogit": pytest.approx(0.1), "passed": True}
    flipped = ref.copy()
    flipped[3] = [2.0, 0.0]  # one of four flips (to the right label): agreement 75 %, +25 pp, dlogit 2
    g = icv.gate(ref, flipped, labels)
    assert not g["passed"] and g["agreement"] == 0.75 and g["dacc_pp"] == pytest.approx(25.0)
    fast = {(1, 1): {"x": 1.4}, (1, 32): {"x": 1.31}}
    assert icv.qualifies(fast, {"passed": True}) and not icv.qualifies(fast, {"passed": False})
    assert not icv.qualifies({**fast, (2, 32): {"x": 1.29}}, {"passed": True}) and not icv.qualifies(fast, None)


def test_speed_table_has_every_cell(built, capsys):
    fp32, paths, _ = built
    some = {"fp32": fp32, "dyn-u8s8-pt": paths["dyn-u8s8-pt"]}
    lat = icv.speed(some, (1, 28, 28), threads=(1,), repeats=1, rounds=2)
    assert set(lat) == set(some) and all(set(row) == {(1, 1), (1, 32)} for row in lat.values())
    assert all(cell["ms"] > 0 and cell["x"] > 0 for row in lat.values() for cell in row.values())
    icv.print_table(lat, {}, {n: icv.kernels(p) for n, p in some.items()}, (1,))
    printed = capsys.readouterr().out
    assert "dyn-u8s8-pt" in printed and "DQMM" in printed
