"""The CPU INT8 file's float-layer fallback (exporters/quantize/int8cpu_fallback.py): the most sensitive
MatMuls go float until the gate passes, the shipped file is the passing one, and it refuses below
half the MatMul FLOPs in int8 or without images to rank by."""
from __future__ import annotations

import onnx
import pytest

from edgecl.exporters.quantize.int8cpu import cpu_quantized_nodes, quantize_int8_cpu
from edgecl.exporters.quantize.int8cpu_fallback import cpu_matmul_record, run_cpu_fallback
from edgecl.exporters.onnx.export import export_onnx
from tests.exporters.conftest import FakeGate, verdict


@pytest.fixture(scope="module")
def files(setup, tmp_path_factory):
    d = tmp_path_factory.mktemp("cpufallback")
    src = export_onnx(setup.model, d / "m.onnx", input_shape=(1, 28, 28))
    return src, d


def _integer_matmuls(path) -> int:
    return sum(n.op_type == "MatMulInteger" for n in onnx.load(str(path)).graph.node)


def _gate_needing(float_count: int, total: int):
    """A gate that passes once at least ``float_count`` of the ``total`` quantised MatMuls are float."""
    def gate(path):
        ok = _integer_matmuls(path) <= total - float_count
        return verdict(ok, 0.995 if ok else 0.98, 0.1, "" if ok else "level 2: top-1 agreement 0.98 < 0.99")
    return FakeGate(gate)


def test_fallback_keeps_the_fewest_layers_float_and_ships_that_file(setup, files):
    src, d = files
    total = len(cpu_quantized_nodes(onnx.load(str(src))))
    assert total == 8 and _integer_matmuls(quantize_int8_cpu(src, d / "a.onnx")) == total  # 2 blocks x 4
    first = verdict(False, 0.98, reason="level 2")
    record, quant = run_cpu_fallback(src, d / "a.onnx", setup.calib[:64], _gate_needing(2, total), first)
    fields = quant.to_json()
    assert record.passed and len(fields["float_nodes"]) == 2
    assert _integer_matmuls(d / "a.onnx") == total - 2  # the passing file replaced the first one
    assert 0.5 <= fields["quantized_matmul_fraction"] < 1.0
    ranked = [name for name, _ in fields["fallback"]["sensitivity"]]
    assert sorted(ranked) == sorted(cpu_quantized_nodes(onnx.load(str(src)))) and fields["float_nodes"] == ranked[:2]
    assert fields["fallback"]["first_gate"]["top1_agreement"] == 0.98


def test_fallback_refuses_below_half_the_flops_and_without_images(setup, files):
    src, d = files
    total = len(cpu_quantized_nodes(onnx.load(str(src))))
    quantize_int8_cpu(src, d / "b.onnx")
    first = verdict(False, 0.98, reason="level 2")
    record, quant = run_cpu_fallback(src, d / "b.onnx", setup.calib[:64], _gate_needing(total, total), first)
    assert not record.passed and "under 50 %" in record.reason and quant.float_nodes == ()
    assert _integer_matmuls(d / "b.onnx") == total  # the refused file is left as it was
    record, quant = run_cpu_fallback(src, d / "b.onnx", None, _gate_needing(1, total), first)
    assert not record.passed and "no calibration images" in record.reason


def test_passing_record_has_the_int8_share(files):
    src, _ = files
    fields = cpu_matmul_record(src).to_json()
    assert fields["float_nodes"] == [] and 0.5 < fields["quantized_matmul_fraction"] <= 1.0
