"""int8cpu on the device: an ONNX Runtime precision TensorRT never builds (refused in one line).

The full path (export, gate, ``edgecl-rt verify --precision int8cpu``) needs torch and lives in
tests/exporters/quantize/test_int8cpu.py; these checks are torch-free."""
import pytest
from typer.testing import CliRunner

from edgecl_runtime.backends import open_backend
from edgecl_runtime.bundle import load_bundle
from edgecl_runtime.cli import Precision, app
from edgecl_runtime.errors import BundleError, EngineError
from edgecl_runtime.contract import base_precision
from edgecl_runtime.backends.trt.build import check_trt_precision, make_plan
from tests.runtime.rt_cli import error_lines

try:
    runner = CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into stdout by default
except TypeError:
    runner = CliRunner()



def test_int8cpu_is_its_own_precision():
    assert Precision("int8cpu").value == "int8cpu"
    assert base_precision("int8cpu") == "int8cpu" and base_precision("trt_int8") == "int8"


def test_build_refuses_int8cpu_in_one_line(bundle):
    res = runner.invoke(app, ["build", str(bundle), "--int8cpu"])
    assert res.exit_code == 1
    lines = error_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert "not a TensorRT precision" in lines[0] and "--int8" in lines[0] and "MatMulInteger" in lines[0]
    assert not list(bundle.glob("*.plan*"))


@pytest.mark.parametrize("version", ["8.5.2", "10.3.0", "11.0.0"])
def test_trt_plan_and_backend_refuse_int8cpu(bundle, version):
    with pytest.raises(EngineError, match="not a TensorRT precision"):
        make_plan(version, "int8cpu")
    with pytest.raises(EngineError, match="--backend ort"):
        open_backend(load_bundle(bundle), "trt", "int8cpu")
    for prec in ("fp32", "fp16", "int8"):
        check_trt_precision(prec)  # the TensorRT precisions pass


def test_ort_int8cpu_on_a_bundle_without_it_is_one_line(bundle):
    with pytest.raises(BundleError, match=r"no int8cpu model \(model.int8cpu.onnx: not exported\)"):
        load_bundle(bundle).onnx_path("int8cpu")
    res = runner.invoke(app, ["verify", str(bundle), "--precision", "int8cpu"])
    assert res.exit_code == 1 and "re-export with int8cpu" in res.stdout + res.stderr
