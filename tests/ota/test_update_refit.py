"""``edgecl-rt update ... --engine PLAN`` on the fake TensorRT (rules: tests/runtime/backends/trt/fake_refit.py):
a refittable engine of task 1 is refitted with task 2's weights (no parse, no build), gated on task 2's
golden data and kept in the plan store under task 2's ONNX; an engine that cannot refit (built without
--refittable, on TensorRT 11.3, or refitted wrongly) is rebuilt after one line saying why."""
import pytest
from typer.testing import CliRunner

from edgecl_runtime.backends.trt import build as trt_build
from edgecl_runtime.backends.trt import engine as trt_backend
from edgecl_runtime.backends.trt import refit as trt_refit
from edgecl_runtime.backends.trt.plan_record import read_record
from edgecl_runtime.backends.trt.plan_store import STORE_ENV, stored_plan_path
from edgecl_runtime.bundle import load_bundle
from edgecl_runtime.cli import app as rt_app
from tests.runtime.backends.trt.fake_cudart import FakeCudaRuntime, install
from tests.runtime.backends.trt.fake_refit import Refitter, make_refit_trt

rt = CliRunner()


@pytest.fixture
def device(monkeypatch, tmp_path):
    """A device: its own plan store, the fake CUDA runtime; returns a function installing a TensorRT."""
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "device"))
    cudart = install(monkeypatch, FakeCudaRuntime("Orin", (8, 7)))

    def with_trt(version="10.3.0"):
        trt = make_refit_trt(version, cudart)
        for where in (trt_build, trt_backend, trt_refit):
            monkeypatch.setattr(where, "import_tensorrt", lambda: trt, raising=False)
        monkeypatch.setattr("edgecl_runtime.backends.trt.compat.import_tensorrt", lambda: trt)
        return trt
    return with_trt


def _build(base, *flags, onnx_precision="fp32"):
    res = rt.invoke(rt_app, ["build", str(base), "--max-batch", "4", *flags])
    assert res.exit_code == 0, res.output
    precision = "fp16" if "--fp16" in flags else "fp32"
    return stored_plan_path(load_bundle(base).onnx_sha256(onnx_precision), precision)


def _update(made_update, tmp_path, plan):
    run = made_update[0]
    new = tmp_path / "NEW"
    res = rt.invoke(rt_app, ["update", str(run / "task-01" / "export"), str(run / "task-02" / "update-from-01"),
                             "--out", str(new), "--engine", str(plan)])
    return res, new


def test_a_refittable_engine_is_refitted_gated_and_kept(made_update, tmp_path, device):
    trt = device()
    plan = _build(made_update[0] / "task-01" / "export", "--refittable", "--head-capacity", "16")
    record = read_record(plan)
    assert record["refittable"] and record["head_capacity"] == 16 and ("set_flag", "REFIT") in trt.calls
    parses = sum(c[0] == "parse" for c in trt.calls)
    res, new = _update(made_update, tmp_path, plan)
    assert res.exit_code == 0, res.output
    assert "refitted; fp32 golden gate passed" in res.output and "not refitted" not in res.output
    assert sum(c[0] == "parse" for c in trt.calls) == parses  # no second parse: no build
    refits = [c for c in trt.calls if c[0] == "refit"]
    assert len(refits) == 1 and "model.head.weight" in refits[0][1] and len(refits[0][1]) >= 3  # K/V + head
    stored = stored_plan_path(load_bundle(new).onnx_sha256("fp32"), "fp32")
    again = read_record(stored)
    assert again["refitted_from"] == record["plan_sha256"] and again["classes"] == len(load_bundle(new).classes)


@pytest.mark.parametrize("version, flags, why", [
    ("10.3.0", [], "built without --refittable"),
    ("11.3.0", ["--refittable"], "built without --refittable"),  # 11.3 builds it without REFIT, and says so
])
def test_an_engine_that_cannot_refit_is_rebuilt_after_one_line(made_update, tmp_path, device, version, flags, why):
    trt = device(version)
    plan = _build(made_update[0] / "task-01" / "export", *flags)
    assert ("set_flag", "REFIT") not in trt.calls
    res, new = _update(made_update, tmp_path, plan)
    assert res.exit_code == 0, res.output
    assert f"not refitted: the engine was {why}" in res.output and "built; fp32 golden gate passed" in res.output
    assert not [c for c in trt.calls if c[0] == "refit"]


def test_a_refit_that_gives_wrong_numbers_fails_the_gate_and_is_rebuilt(made_update, tmp_path, device, monkeypatch):
    device()
    plan = _build(made_update[0] / "task-01" / "export", "--refittable", "--head-capacity", "16")
    refit = Refitter.refit_cuda_engine

    def silently_wrong(self):  # reports success, changes nothing (as 11.3's dropped GEMM bias would)
        self.given = {}
        return refit(self)
    monkeypatch.setattr(Refitter, "refit_cuda_engine", silently_wrong)
    res, _ = _update(made_update, tmp_path, plan)
    assert res.exit_code == 0, res.output
    assert "failed the fp32 golden gate" in res.output and "built; fp32 golden gate passed" in res.output


def test_a_bad_engine_is_refused_before_the_update_writes_anything(made_update, tmp_path, device):
    device()
    fake = tmp_path / "model.plan"
    fake.write_bytes(b"not a plan")
    res, new = _update(made_update, tmp_path, fake)
    assert res.exit_code == 1 and "foreign plan" in res.output and not new.exists()


@pytest.mark.parametrize("version, onnx_precision", [("10.3.0", "fp32"), ("11.4.0", "fp16")])
def test_an_fp16_engine_is_refitted_from_the_file_its_version_parses(made_update, tmp_path, device, version,
                                                                      onnx_precision):
    """Below TensorRT 11 an FP16 engine is built (and refitted) from the FP32 file with the FP16 flag;
    from 11 on (strongly typed) from model.fp16.onnx: the refit reads the same file the build parsed."""
    trt = device(version)
    plan = _build(made_update[0] / "task-01" / "export", "--fp16", "--refittable", "--head-capacity", "16",
                  onnx_precision=onnx_precision)
    assert read_record(plan)["onnx_file"] == ("model.onnx" if onnx_precision == "fp32" else "model.fp16.onnx")
    res, new = _update(made_update, tmp_path, plan)
    assert res.exit_code == 0, res.output
    assert "refitted; fp16 golden gate passed" in res.output, res.output
    assert [c for c in trt.calls if c[0] == "refit"]
