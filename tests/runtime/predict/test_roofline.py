"""Roofline of ``edgecl-rt bench``: the hand-written GEMM probe, FLOPs from ONNX Runtime's profile,
and the bench record. No timing is asserted (only that rates are positive and consistent)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper
from typer.testing import CliRunner

from edgecl_runtime.cli import app
from edgecl_runtime.predict.bench import model_flops, with_roofline
from edgecl_runtime.predict.gemm_probe import gemm_peak, probe_model
from edgecl_runtime.predict.roofline import flops_by_precision, kernel_flops, profile_model, roofline_fraction
from tests.runtime.rt_factory import SIZE, make_onnx

runner = CliRunner()


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8cpu"])
def test_probe_is_a_valid_matmul(precision):
    """The protobuf written by hand is a model onnx accepts and ORT computes x @ w with."""
    model = onnx.load_from_string(probe_model(precision, 32))
    onnx.checker.check_model(model, full_check=True)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    w = inits["w"].astype(np.float32) * (inits["w_scale"] if "w_scale" in inits else 1)
    x = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    feed = x.astype(np.float16) if precision == "fp16" else x
    y = ort.InferenceSession(probe_model(precision, 32), providers=["CPUExecutionProvider"]).run(None, {"x": feed})[0]
    tol = {"fp32": 1e-4, "fp16": 0.1, "int8cpu": 0.05}[precision] * np.abs(x @ w).max()
    assert np.abs(y.astype(np.float32) - x @ w).max() <= tol


def test_gemm_peak_reports_a_rate():
    peak = gemm_peak("fp32", threads=1, n=64, reps=2)
    assert peak["gflops"] > 0 and peak["n"] == 64


def test_kernel_flops_rules():
    assert kernel_flops("MatMul", [[2, 17, 128], [128, 384]], [[2, 17, 384]]) == 2 * 2 * 17 * 384 * 128
    # q k^T with the transpose folded in: A (B, H, S, D), output (B, H, S, S), K = D
    assert kernel_flops("FusedMatMul", [[2, 4, 17, 32], [2, 4, 17, 32]], [[2, 4, 17, 17]]) == 2 * 2 * 4 * 17 * 17 * 32
    # A transposed (K, M): K is the dimension that is not the output's row count
    assert kernel_flops("Gemm", [[64, 8], [64, 10]], [[8, 10]]) == 2 * 8 * 10 * 64
    assert kernel_flops("Conv", [[2, 1, 28, 28], [128, 1, 7, 7], [128]], [[2, 128, 4, 4]]) == 2 * 2 * 128 * 16 * 49
    assert kernel_flops("MultiHeadAttention", [[2, 17, 128], [2, 17, 128], [2, 17, 128]],
                        [[2, 17, 128]]) == 4 * 2 * 17 * 17 * 128
    assert kernel_flops("LayerNormalization", [[2, 17, 128]], [[2, 17, 128]]) == 0


def test_profile_flops_are_exact(tmp_path):
    """The tiny classifier is one Gemm (N, 784) x (784, K): FLOPs = 2 N 784 K, whatever ORT fuses."""
    path = make_onnx(tmp_path / "m.onnx", k=4)
    x = np.zeros((3, 1, SIZE, SIZE), np.float32)
    prof = profile_model(str(path), x, threads=1, runs=2)
    assert prof["flops"] == 2 * 3 * SIZE * SIZE * 4
    assert prof["run_us"] > 0 and sum(op["count"] for op in prof["ops"].values()) >= 1
    assert model_flops(path.read_bytes(), (1, SIZE, SIZE), batch=3) == prof["flops"]


def test_roofline_fields():
    stats = {"p50_ms": 2.0}
    rec = with_roofline(stats, 4_000_000_000, {"gflops": 4000.0})
    assert rec["gflop"] == 4.0 and rec["gflops"] == pytest.approx(2000.0)
    assert rec["peak_fraction"] == pytest.approx(0.5)
    assert with_roofline(stats, 10, None)["peak_fraction"] is None
    assert with_roofline(stats, None, {"gflops": 1.0})["gflops"] is None


def test_bench_prints_and_records_the_roofline(bundle, tmp_path):
    res = runner.invoke(app, ["bench", str(bundle), "--batch", "2", "--iters", "3", "--warmup", "1",
                              "--threads", "1"])
    assert res.exit_code == 0, res.output
    for word in ("model GFLOP/call", "achieved GFLOP/s", "GEMM peak GFLOP/s", "fraction of peak"):
        assert word in res.stdout
    rec = json.loads((bundle / "bench-ort-fp32-b2.json").read_text())
    assert rec["gflop"] == pytest.approx(2 * 2 * SIZE * SIZE * 4 / 1e9)
    assert rec["threads"] == 1 and rec["peak_gflops"] > 0
    assert rec["peak_fraction"] == pytest.approx(rec["gflops"] / rec["peak_gflops"])
    other = tmp_path / "b.json"
    res = runner.invoke(app, ["bench", str(bundle), "--iters", "2", "--no-roofline", "--record", str(other)])
    assert res.exit_code == 0 and json.loads(other.read_text())["peak_fraction"] is None


def test_flops_split_by_precision():
    ops = {"DynamicQuantizeMatMul": {"flops": 10}, "QLinearMatMul (attention)": {"flops": 2},
           "MatMul (attention)": {"flops": 3}, "Gemm": {"flops": 4}, "Gelu": {"flops": 0}}
    assert flops_by_precision(ops) == {"int8": 12, "float": 7}


def test_roofline_fraction_sets_each_precision_against_its_peak():
    split = {"int8": 8_000_000_000, "float": 2_000_000_000}
    assert roofline_fraction(split, 0.04, {"int8": 800.0, "float": 200.0}) == pytest.approx(0.5)  # (10 + 10) ms / 40
    assert roofline_fraction({"int8": 0, "float": 2_000_000_000}, 0.02, {"int8": None, "float": 200.0}) == pytest.approx(0.5)
    for peaks in ({"int8": 800.0, "float": None}, {"int8": 800.0, "float": float("nan")},
                  {"int8": float("inf"), "float": 200.0}, {"int8": 800.0, "float": 0.0}, {"int8": 800.0}):
        assert roofline_fraction(split, 0.04, peaks) is None, peaks
    assert roofline_fraction(split, 0.0, {"int8": 800.0, "float": 200.0}) is None


def test_bench_sets_an_int8_file_against_its_own_roofline(bundle, monkeypatch):
    """The test bundle's INT8 file keeps its Gemm float (weights dequantised): its own roofline is
    the float probe's, and the FP32 file's own roofline is its plain fraction of peak."""
    import edgecl_runtime.predict.gemm_probe as probe

    probed, real = [], probe.gemm_peak
    monkeypatch.setattr(probe, "gemm_peak", lambda precision, *a, **k: probed.append(precision) or real(precision, *a, **k))
    res = runner.invoke(app, ["bench", str(bundle), "-p", "int8", "--iters", "3", "--warmup", "1", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert "fraction of own roofline" in res.stdout
    rec = json.loads((bundle / "bench-ort-int8-b1.json").read_text())
    assert rec["float_peak_gflops"] > 0 and probed == ["int8", "fp32"]
    assert rec["roofline_fraction"] == pytest.approx(rec["gflops"] / rec["float_peak_gflops"])
    probed.clear()
    res = runner.invoke(app, ["bench", str(bundle), "--iters", "3", "--warmup", "1", "--threads", "1"])
    rec = json.loads((bundle / "bench-ort-fp32-b1.json").read_text())
    assert probed == ["fp32"]  # one probe: the float peak is the file's own
    assert rec["float_peak_gflops"] == rec["peak_gflops"] and rec["roofline_fraction"] == pytest.approx(rec["peak_fraction"])
