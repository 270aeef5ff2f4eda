"""The CPU INT8 file (``model.int8cpu.onnx``): dynamic quantisation of the weight MatMuls only, gated like
INT8, shipped by default, served by ``edgecl-rt`` with ONNX Runtime, never given to TensorRT/DeepStream."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from PIL import Image
from typer.testing import CliRunner

from edgecl.exporters.bundle import failed_formats
from tests.exporters.conftest import export_with
from edgecl.exporters.quantize.int8 import activation_matmuls, quant_nodes
from edgecl.exporters.quantize.int8cpu import quantize_int8_cpu
from edgecl.exporters.onnx.export import export_onnx
from edgecl.exporters.parity.ort_session import onnx_logits
from edgecl_runtime.cli import app
from edgecl_runtime.contract import DEFAULT_REQUESTS, DEFAULT_THRESHOLDS, ONNX_FILES, TRT_PRECISIONS
from edgecl_runtime.bundle.verify import verify_bundle

try:
    runner = CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into stdout by default
except TypeError:
    runner = CliRunner()


@pytest.fixture(scope="module")
def quantized(setup, tmp_path_factory):
    d = tmp_path_factory.mktemp("int8cpu")
    src = export_onnx(setup.model, d / "m.onnx", input_shape=(1, 28, 28))
    return src, quantize_int8_cpu(src, d / "m.int8cpu.onnx")


def _weight_matmuls(model: onnx.ModelProto) -> list[str]:
    """The blocks' MatMuls with a constant weight (qkv, proj, fc1, fc2): what should become integer."""
    attn = set(activation_matmuls(model))
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in attn
            and "/patch_embed/" not in n.name and "/head/" not in n.name]


def test_only_the_weight_matmuls_are_dynamic_int8(quantized):
    src, dst = quantized
    fp32, q = onnx.load(str(src)), onnx.load(str(dst))
    weight_mm = _weight_matmuls(fp32)
    assert len(weight_mm) == 2 * 4  # qkv, proj, fc1, fc2 in each of the 2 blocks
    ops = Counter(n.op_type for n in q.graph.node)
    assert ops["MatMulInteger"] == len(weight_mm) and ops["DynamicQuantizeLinear"] == len(weight_mm)
    assert quant_nodes(q) == []  # no static Q/DQ: activation ranges are computed per call
    integer = {n.name.removesuffix("_quant") for n in q.graph.node if n.op_type == "MatMulInteger"}
    assert integer == set(weight_mm)
    inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    for node in (n for n in q.graph.node if n.op_type == "MatMulInteger"):
        w, zp = inits[node.input[1]], inits[node.input[3]]
        assert w.dtype == np.int8 and zp.dtype == np.int8 and zp.size == 1 and not zp.any()  # per tensor
    io = list(q.graph.input) + list(q.graph.output)
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for i in io)


def test_patch_embed_head_and_attention_stay_float(quantized):
    src, dst = quantized
    fp32, q = onnx.load(str(src)), onnx.load(str(dst))
    float_mm = {n.name for n in q.graph.node if n.op_type in ("MatMul", "Gemm", "Conv")}
    assert set(activation_matmuls(fp32)) <= float_mm and len(activation_matmuls(fp32)) == 2 * 2
    assert any(n.op_type == "Conv" and "/patch_embed/" in n.name for n in q.graph.node)  # float Conv
    head = [n for n in q.graph.node if "/head/" in n.name and n.op_type in ("MatMul", "Gemm")]
    assert head and all(not i.endswith("_quantized") for n in head for i in n.input)
    consumers = {i for n in q.graph.node if n.op_type == "MatMulInteger" for i in n.input}
    assert not any("patch_embed" in i or "head" in i for i in consumers)


def test_logits_agree_within_the_int8_gate(setup, quantized):
    src, dst = quantized
    x = np.concatenate([t[0] for t in setup.test_sets])
    ref, out = onnx_logits(src, x), onnx_logits(dst, x)
    th = DEFAULT_THRESHOLDS["int8cpu"]
    assert th == DEFAULT_THRESHOLDS["int8"]
    assert np.mean(ref.argmax(1) == out.argmax(1)) >= th["top1_agreement"]
    assert float(np.max(np.abs(ref - out))) <= th["max_abs_diff"]


def test_failed_quantisation_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(Exception):
        quantize_int8_cpu(bad, tmp_path / "out" / "m.int8cpu.onnx")
    assert not (tmp_path / "out" / "m.int8cpu.onnx").exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["bad.onnx"]


def test_contract_row():
    assert ONNX_FILES["int8cpu"] == "model.int8cpu.onnx" and "int8cpu" in DEFAULT_REQUESTS
    assert "int8cpu" not in TRT_PRECISIONS and set(TRT_PRECISIONS) == {"fp32", "fp16", "int8"}


@pytest.fixture(scope="module")
def default_bundle(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "export"
    man = export_with(setup.model, out, classes=setup.classes, input_spec=setup.spec, golden=setup.golden,
                        test_sets=setup.test_sets, calib=setup.calib, run_name="r", task=2,
                        formats=set(DEFAULT_REQUESTS))
    return out, man


def test_default_bundle_ships_and_gates_the_cpu_file(default_bundle):
    out, man = default_bundle
    entry = man["formats"]["int8cpu"]
    assert entry["status"] == "passed" and entry["file"] == "model.int8cpu.onnx", entry
    assert entry["gate"]["passed"] and entry["gate"]["levels_checked"] == [1, 2, 3]
    assert man["thresholds"]["int8cpu"] == DEFAULT_THRESHOLDS["int8"]
    assert "model.int8cpu.onnx" in man["files"] and (out / "model.int8cpu.onnx").is_file()
    assert failed_formats(man) == []
    props = {p.key: p.value for p in onnx.load(str(out / "model.int8cpu.onnx")).metadata_props}
    assert props["edgecl.precision"] == "int8cpu"


def test_no_deepstream_config_for_the_cpu_file(default_bundle):
    out, man = default_bundle
    configs = sorted(p.name for p in (out / "deepstream").iterdir())
    assert configs == [f"config_infer_{p}.txt" for p in sorted(TRT_PRECISIONS)]
    assert set(man["deepstream"]["configs"]) == set(TRT_PRECISIONS)
    assert not any("int8cpu" in (out / "deepstream" / c).read_text() for c in configs)


def test_rt_verify_bench_predict_int8cpu_with_ort(default_bundle):
    out, _ = default_bundle
    rec = verify_bundle(out, "ort", "int8cpu", write=False)
    assert rec["passed"], rec
    res = runner.invoke(app, ["verify", str(out), "--precision", "int8cpu"])
    assert res.exit_code == 0, res.output
    written = json.loads((out / "verification-ort-int8cpu.json").read_text())
    assert written["passed"] and written["precision"] == "int8cpu"
    (out / "verification-ort-int8cpu.json").unlink()  # the module's bundle stays as exported
    res = runner.invoke(app, ["bench", str(out), "--precision", "int8cpu", "--iters", "3", "--warmup", "1"])
    assert res.exit_code == 0 and "int8cpu" in res.stdout, res.output
    img = out.parent / "digit.png"
    Image.fromarray((255 * setup_image(out)).astype(np.uint8)).save(img)
    res = runner.invoke(app, ["predict", str(out), str(img), "--precision", "int8cpu", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["results"][0]["predictions"]


def setup_image(bundle) -> np.ndarray:
    """The first golden image as (28, 28) in [0, 1]."""
    return np.load(bundle / "golden.npz")["inputs"][0, 0]


def test_failing_cpu_gate_is_recorded_and_fails_the_export(setup, tmp_path, monkeypatch):
    from edgecl.exporters import formats as fmod

    def broken(src, dst):
        m = onnx.load(str(src))
        head = [t for t in m.graph.initializer if "head" in t.name and "bias" in t.name][0]
        bias = numpy_helper.to_array(head).copy()
        bias[0] += 50.0
        head.CopyFrom(numpy_helper.from_array(bias, head.name))
        onnx.save(m, str(dst))
        return dst

    monkeypatch.setattr(fmod, "quantize_int8_cpu", broken)
    man = export_with(setup.model, tmp_path / "export", classes=setup.classes, input_spec=setup.spec,
                        golden=setup.golden, test_sets=setup.test_sets, run_name="r", task=2,
                        formats={"int8cpu"})
    assert man["formats"]["int8cpu"]["status"] == "gate_failed"
    assert failed_formats(man) == ["int8cpu"]
