"""Refit decisions without TensorRT: which flag each version gets (11.3's REFIT defect refused),
when an engine may take an update by a refit, the padded head (the model's logits unchanged, room
for classes later tasks add), and the refit calls against the fake refitter's documented rules."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from edgecl_runtime.backends.trt.head_pad import PAD_BIAS, pad_head
from edgecl_runtime.backends.trt.refit import RefitCase, refit_flag, refit_plan, refit_refusal, weight_diff
from edgecl_runtime.errors import EngineError
from tests.runtime.backends.trt.fake_cudart import FakeCudaRuntime, install
from tests.runtime.backends.trt.fake_refit import make_refit_trt, register
from tests.runtime.rt_factory import make_onnx

FLAGS = ("FP16", "INT8", "REFIT", "TF32")


@pytest.mark.parametrize("version, flag", [("8.5.2", "REFIT"), ("8.6.2", "REFIT"), ("10.3.0", "REFIT"),
                                           ("10.16.1", "REFIT"), ("11.3.0", None), ("11.4.0", "REFIT")])
def test_refit_flag_per_version(version, flag):
    chosen, why = refit_flag(version, FLAGS)
    assert chosen == flag
    assert (why == "") == (flag is not None) and ("11.3" in why) == (version == "11.3.0")


def test_a_version_without_the_flag_builds_without_it():
    assert refit_flag("10.3.0", ("FP16", "INT8"))[0] is None


RECORD = {"refittable": True, "tensorrt": "10.3.0", "onnx_sha256": "a" * 64, "onnx_file": "model.onnx"}


@pytest.mark.parametrize("change, words", [
    ({"record": {**RECORD, "refittable": False}}, "without --refittable"),
    ({"trt_version": "10.4.0"}, "built with TensorRT 10.3.0"),
    ({"record": {**RECORD, "tensorrt": "11.3.0"}, "trt_version": "11.3.0"}, "GEMM bias"),
    ({"base_onnx_sha256": "b" * 64}, "not built from the base bundle"),
    ({"structure_same": False}, "graph or a weight's shape"),
    ({"refittable": frozenset({"W"})}, "'B' changed and this engine cannot refit it"),
])
def test_refit_refusals(change, words):
    case = dict(record=RECORD, trt_version="10.3.0", base_onnx_sha256="a" * 64, changed=("W", "B"),
                structure_same=True, refittable=frozenset({"W", "B"}))
    assert refit_refusal(RefitCase(**case)) is None
    case.update(change)
    assert words in refit_refusal(RefitCase(**case))


def _logits(data, x):
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_padded_head_keeps_the_logits_and_adds_rows_that_never_win(tmp_path, precision):
    data = make_onnx(tmp_path / "m.onnx", 4, precision=precision).read_bytes()
    padded, classes = pad_head(data, 16)
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    before, after = _logits(data, x), _logits(padded, x)
    assert classes == 4 and after.shape == (3, 16)
    np.testing.assert_array_equal(after[:, :4], before)
    assert np.all(after[:, 4:] == np.float32(PAD_BIAS).astype(after.dtype)) and np.all(after.argmax(1) < 4)


def test_a_head_larger_than_the_capacity_is_refused(tmp_path):
    with pytest.raises(EngineError, match="--head-capacity 4"):
        pad_head(make_onnx(tmp_path / "m.onnx", 4).read_bytes(), 3)


def test_next_tasks_padded_head_differs_in_values_only(tmp_path):
    old, _ = pad_head(make_onnx(tmp_path / "a.onnx", 4, seed=0).read_bytes(), 16)
    new, _ = pad_head(make_onnx(tmp_path / "b.onnx", 6, seed=1).read_bytes(), 16)
    changed, same = weight_diff(old, new)
    assert set(changed) == {"W", "B"} and same
    grown, _ = pad_head(make_onnx(tmp_path / "c.onnx", 6, c=3).read_bytes(), 16)  # another input: a rebuild
    assert not weight_diff(old, grown)[1]


def _refit_case(tmp_path, monkeypatch, version="10.3.0", refit=True):
    trt = make_refit_trt(version, install(monkeypatch, FakeCudaRuntime("Orin", (8, 7))))
    old, _ = pad_head(make_onnx(tmp_path / "a.onnx", 4, seed=0).read_bytes(), 16)
    new, _ = pad_head(make_onnx(tmp_path / "b.onnx", 6, seed=1).read_bytes(), 16)
    return trt, register(trt, old, refit, 8), new


def test_refit_supplies_the_weights_the_refitter_asks_for(tmp_path, monkeypatch):
    trt, plan, new = _refit_case(tmp_path, monkeypatch)
    refitted = refit_plan(trt, plan, new, ["W"])  # B is coupled with W (a Gemm): asked for, then supplied
    assert ("set_named_weights", "B") in trt.calls and ("refit", ["B", "W"]) in trt.calls
    model = onnx.load_model_from_string(trt.plans[refitted][0])
    expected = {t.name: numpy_helper.to_array(t) for t in onnx.load_model_from_string(new).graph.initializer}
    for t in model.graph.initializer:
        np.testing.assert_array_equal(numpy_helper.to_array(t), expected[t.name])


def test_refit_of_a_weight_the_new_model_lacks_is_one_line(tmp_path, monkeypatch):
    trt, plan, new = _refit_case(tmp_path, monkeypatch)
    with pytest.raises(EngineError, match="'gone', which the new model lacks"):
        refit_plan(trt, plan, new, ["gone"])


def test_an_engine_built_without_refit_refuses_every_weight(tmp_path, monkeypatch):
    trt, plan, new = _refit_case(tmp_path, monkeypatch, refit=False)
    with pytest.raises(EngineError, match="refused weight 'W'"):
        refit_plan(trt, plan, new, ["W", "B"])


def test_a_huge_head_capacity_is_refused_before_anything_is_read():
    from typer.testing import CliRunner

    from edgecl_runtime.cli import app
    res = CliRunner().invoke(app, ["build", "/nonexistent", "--refittable", "--head-capacity", "100001"])
    assert res.exit_code == 2 and "--head-capacity" in res.output
