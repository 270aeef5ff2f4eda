"""Refusals before TensorRT works: opset/LayerNormalization on TensorRT 8.5, integer layers never
pinned, DLA options; the `edgecl-rt build` flags on the fakes (plan + record, --save-engine)."""
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from typer.testing import CliRunner

from edgecl_runtime.backends.trt import build as trt_build
from edgecl_runtime.backends.trt import engine as trt_backend
from edgecl_runtime.bundle import load_bundle
from edgecl_runtime.cli import app
from edgecl_runtime.errors import EngineError
from edgecl_runtime.backends.trt.onnx_scan import _scan_with_onnx, scan_bytes, scan_onnx
from edgecl_runtime.backends.trt.plan_record import read_record, sidecar_path
from edgecl_runtime.backends.trt.plan_store import stored_plan_path
from edgecl_runtime.backends.trt.build import BuildOptions, build_engine
from edgecl_runtime.backends.trt.dla import DlaSettings
from edgecl_runtime.backends.trt.opset import parser_problem
from tests.runtime.backends.trt.fake_cudart import FakeCudaRuntime, install
from tests.runtime.backends.trt.fake_tensorrt import make_trt
from tests.runtime.rt_factory import rehash
from tests.runtime.backends.trt.test_engine import _engine_factory

ORIN = lambda: ("Orin", "8.7")  # noqa: E731
try:
    runner = CliRunner(mix_stderr=False)
except TypeError:
    runner = CliRunner()


def _edit_model(bundle, opset=17, nodes=(), inits=()):
    """Rewrite the bundle's fp32 ONNX with extra (dangling) nodes and another opset; rehash."""
    path = bundle / "model.onnx"
    model = onnx.load(str(path))
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(inits)
    model.opset_import[0].version = opset
    onnx.save(model, str(path))
    rehash(bundle)
    return path


def _layernorm(bundle):
    ln = helper.make_node("LayerNormalization", ["flat", "g", "b"], ["ln"], axis=-1, name="/norm/LN")
    inits = [numpy_helper.from_array(np.ones(784, np.float32), "g"),
             numpy_helper.from_array(np.zeros(784, np.float32), "b")]
    return _edit_model(bundle, 17, [ln], inits)


def test_trt_8_5_refuses_opset_17_before_parsing(bundle):
    trt = make_trt("8.5.2")
    with pytest.raises(EngineError, match=r"model\.onnx: TensorRT 8\.5\.2 cannot parse this model "
                                          r"\(opset 17;.*re-export with `--opset 16`"):
        build_engine(load_bundle(bundle), "fp32", trt=trt, identity=ORIN)
    assert not [c for c in trt.calls if c[0] in ("parse", "create_network")]


def test_trt_8_5_refuses_layernorm_and_8_6_parses_it(bundle):
    _layernorm(bundle)
    with pytest.raises(EngineError, match="LayerNormalization nodes.*re-export with `--opset 16`"):
        build_engine(load_bundle(bundle), "fp16", trt=make_trt("8.5.2"), identity=ORIN)
    trt = make_trt("8.6.1")
    build_engine(load_bundle(bundle), "fp16", trt=trt, identity=ORIN)
    assert ("pinned", ["/norm/LN"]) in trt.calls


def test_fake_8_5_parser_fails_on_layernorm_like_the_real_one(bundle):
    """Without the check, TensorRT 8.5 would fail deep in parsing ("Plugin not found")."""
    path = _layernorm(bundle)
    trt = make_trt("8.5.2")
    network = trt.Builder(None).create_network(1)
    parser = trt.OnnxParser(network, None)
    assert not parser.parse_from_file(str(path)) and "Plugin not found" in parser.get_error(0)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_trt_8_5_builds_an_opset_16_model(bundle, precision):
    _edit_model(bundle, 16)
    trt = make_trt("8.5.2")
    path = build_engine(load_bundle(bundle), precision, trt=trt, identity=ORIN)
    assert ("create_network", 1) in trt.calls and path.read_bytes() == b"SERIALIZED-8.5.2"


def test_parser_problem_rule():
    assert parser_problem("8.6.1", 17, {"LayerNormalization"}) is None
    assert parser_problem("10.3.0", 20, set()) is None
    assert parser_problem("8.5.2", 16, {"Gemm"}) is None
    assert "opset 18" in parser_problem("8.5.2", 18, set())


def test_minimal_reader_agrees_with_onnx(bundle, monkeypatch):
    path = _layernorm(bundle)
    for p in (path, bundle / "model.int8.onnx", bundle / "model.fp16.onnx"):
        assert scan_bytes(p.read_bytes()) == _scan_with_onnx(p)
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    assert scan_onnx(path) == (17, {"Flatten", "Gemm", "LayerNormalization"})
    (bundle / "bad.onnx").write_bytes(b"\xff\xff\xff")
    with pytest.raises(EngineError, match="bad.onnx is not a readable ONNX model"):
        scan_onnx(bundle / "bad.onnx")


def test_runtime_imports_and_checks_without_onnx(bundle):
    code = ("import sys; sys.modules['onnx'] = None\n"
            "import edgecl_runtime.cli, edgecl_runtime.backends.trt.build, edgecl_runtime.backends.trt\n"
            "from edgecl_runtime.backends.trt.opset import check_parser_support\n"
            f"check_parser_support('8.5.2', {str(bundle / 'model.fp16.onnx')!r})\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 1 and "re-export with `--opset 16`" in res.stderr, res.stderr


def test_only_float_layers_are_pinned(bundle):
    """A Reduce over shape integers named like a norm: pinning it to float32 fails the build."""
    nodes = [helper.make_node("Shape", ["flat"], ["shp"], name="/norm1/Shape"),
             helper.make_node("ReduceProd", ["shp"], ["numel"], keepdims=0, name="/norm1/ReduceProd"),
             helper.make_node("ReduceMean", ["flat"], ["mu"], axes=[1], name="/norm1/ReduceMean")]
    _edit_model(bundle, 17, nodes)
    trt = make_trt("10.3.0")
    build_engine(load_bundle(bundle), "fp16", trt=trt, identity=ORIN)
    assert ("pinned", ["/norm1/ReduceMean"]) in trt.calls
    assert not [c for c in trt.calls if c[0] == "build_error"]


def test_dla_build_records_core_and_fallback(bundle):
    trt = make_trt("8.5.2", num_dla=2)
    _edit_model(bundle, 16)
    path = build_engine(load_bundle(bundle), "fp16", BuildOptions(dla=DlaSettings(1, gpu_fallback=True)),
                        trt=trt, identity=ORIN)
    assert trt.config.default_device_type == trt.DeviceType.DLA and trt.config.DLA_core == 1
    assert ("set_flag", "GPU_FALLBACK") in trt.calls
    meta = read_record(path)
    assert meta["dla_core"] == 1 and meta["gpu_fallback"] is True


@pytest.mark.parametrize("cores,dla,precision,msg", [
    (2, DlaSettings(0), "fp32", "a DLA runs only FP16 or INT8 layers; add --fp16 or --int8"),
    (2, DlaSettings(None, True), "fp16", "--gpu-fallback only applies to a DLA build"),
    (2, DlaSettings(2, True), "fp16", "this device has DLA cores 0-1; pick one"),
    (0, DlaSettings(0, True), "int8", "this device has no DLA; drop --dla-core"),
])
def test_dla_refusals_are_one_line(bundle, cores, dla, precision, msg):
    trt = make_trt("10.3.0", num_dla=cores)
    with pytest.raises(EngineError, match=msg):
        build_engine(load_bundle(bundle), precision, BuildOptions(dla=dla), trt=trt, identity=ORIN)
    assert not list(bundle.glob("*.plan*"))


def test_cli_refuses_fp32_dla_without_tensorrt(bundle):
    res = runner.invoke(app, ["build", str(bundle), "--dla-core", "0"])
    assert res.exit_code == 1 and "DLA runs only FP16 or INT8" in res.stderr
    assert len([l for l in res.stderr.splitlines() if "error" in l]) == 1


def test_cli_build_save_engine_and_verify_on_fakes(bundle, tmp_path, monkeypatch):
    _build_on_fakes(bundle, tmp_path, monkeypatch)


def _build_on_fakes(bundle, tmp_path, monkeypatch):
    """`edgecl-rt build --fp16 --save-engine` on the fakes; returns the fake TensorRT."""
    cudart = install(monkeypatch, FakeCudaRuntime("Orin", (8, 7)))
    trt = make_trt("10.3.0", cudart=cudart, engine_factory=_engine_factory)
    monkeypatch.setattr(trt_build, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(trt_backend, "import_tensorrt", lambda: trt)
    monkeypatch.setattr("edgecl_runtime.backends.trt.compat.import_tensorrt", lambda: trt)
    out = tmp_path / "engines" / "classifier.plan"
    out.parent.mkdir()
    res = runner.invoke(app, ["build", str(bundle), "--fp16", "--save-engine", str(out),
                              "--timing-cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.stderr
    assert out.read_bytes() == b"SERIALIZED-10.3.0" and sidecar_path(out).is_file()
    assert "PASSED" in res.stdout and not list(bundle.glob("*.plan*"))
    assert ("deserialize", b"SERIALIZED-10.3.0", -1) in trt.calls
    stored = stored_plan_path(load_bundle(bundle).onnx_sha256("fp32"), "fp16")
    assert stored.read_bytes() == out.read_bytes()  # the runtime's own copy, in the device store
    return trt


def test_cli_build_triton_publishes_the_verified_plan(bundle, tmp_path, monkeypatch):
    """Triton's Jetson onnxruntime backend has no TensorRT provider: the plan is the fast path."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    _build_on_fakes(bundle, tmp_path, monkeypatch)
    repo = tmp_path / "repo"
    res = runner.invoke(app, ["build", str(bundle), "--fp16", "--max-batch", "4", "--triton", str(repo),
                              "--triton-name", "digits"])
    assert res.exit_code == 0, res.stderr
    cfg = text_format.Parse((repo / "digits" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert cfg.platform == "tensorrt_plan" and cfg.max_batch_size == 4 and cfg.HasField("dynamic_batching")
    assert [(t.name, t.data_type, list(t.dims)) for t in cfg.input] == [("input", model_config_pb2.TYPE_FP32,
                                                                         [1, 28, 28])]
    assert [(t.name, list(t.dims), t.label_filename) for t in cfg.output] == [("logits", [4], "labels.txt")]
    assert (repo / "digits" / "1" / "model.plan").read_bytes() == b"SERIALIZED-10.3.0"
    assert len((repo / "digits" / "labels.txt").read_text().splitlines()) == 4
    res = runner.invoke(app, ["build", str(bundle), "--fp16", "--dla-core", "0", "--triton", str(repo)])
    assert res.exit_code == 2 and "drop --dla-core" in res.stderr


def _erf(bundle, opset=17):
    """A GELU's Erf beside the classifier: not a DLA activation (ReLU/Sigmoid/TanH/Clip only)."""
    return _edit_model(bundle, opset, [helper.make_node("Erf", ["flat"], ["erf"], name="/mlp/act/Erf")])


@pytest.mark.parametrize("version", ["8.5.2", "10.3.0"])
def test_dla_build_has_a_static_profile_and_records_what_runs_on_the_dla(bundle, version):
    """DLA has no dynamic dimensions: a min-1 profile would send every layer to the GPU."""
    _edit_model(bundle, 16)
    trt, lines = make_trt(version, num_dla=2), []
    path = build_engine(load_bundle(bundle), "fp16", BuildOptions(max_batch=4, dla=DlaSettings(0, True)),
                        trt=trt, identity=ORIN, log=lines.append)
    assert ("profile", "input", (4, 1, 28, 28), (4, 1, 28, 28), (4, 1, 28, 28)) in trt.calls
    meta = read_record(path)
    assert (meta["dla_layers"], meta["layers"]) == (2, 2) == (trt.dla_layers, 2)
    assert meta["input_shapes"]["min"] == [4, 1, 28, 28] and meta["max_batch"] == 4
    assert any("DLA core 0 runs 2 of 2 layers" in line for line in lines)


def test_dla_layers_it_cannot_run_need_gpu_fallback_and_are_counted(bundle):
    _erf(bundle)
    with pytest.raises(EngineError, match=r"failed to build the fp16 engine.*GELU.*need --gpu-fallback"):
        build_engine(load_bundle(bundle), "fp16", BuildOptions(dla=DlaSettings(0)), trt=make_trt("10.3.0", num_dla=1),
                     identity=ORIN)
    assert not list(bundle.glob("*.plan*"))
    path = build_engine(load_bundle(bundle), "fp16", BuildOptions(dla=DlaSettings(0, True)),
                        trt=make_trt("10.3.0", num_dla=1), identity=ORIN)
    assert (read_record(path)["dla_layers"], read_record(path)["layers"]) == (2, 3)


@pytest.mark.parametrize("version,precision,msg", [
    ("8.5.2", "int8", "TensorRT 8.x's DLA does not run explicit \\(Q/DQ\\) quantization"),
    ("8.6.1", "int8", "TensorRT 8.x's DLA does not run explicit \\(Q/DQ\\) quantization"),
    ("11.0.0", "fp16", "TensorRT 11.0-11.2 do not support the DLA"),
])
def test_dla_requests_this_tensorrt_cannot_place_are_refused_before_the_builder(bundle, version, precision, msg):
    _edit_model(bundle, 16)
    trt = make_trt(version, num_dla=2)
    with pytest.raises(EngineError, match=msg) as info:
        build_engine(load_bundle(bundle), precision, BuildOptions(dla=DlaSettings(0, True)), trt=trt, identity=ORIN)
    assert "\n" not in str(info.value) and not [c for c in trt.calls if c[0] == "create_network"]


def test_int8_dla_builds_from_tensorrt_10(bundle):
    path = build_engine(load_bundle(bundle), "int8", BuildOptions(max_batch=2, dla=DlaSettings(0, True)),
                        trt=make_trt("10.3.0", num_dla=1), identity=ORIN)
    assert read_record(path)["dla_layers"] > 0


def _fake_build(version, model_path, flags, dla_profile=None, fallback=False):
    """Drive the fake TensorRT directly: parse, set ``flags``, optionally target DLA core 0."""
    trt = make_trt(version, num_dla=1)
    builder = trt.Builder(None)
    network = builder.create_network(1 if int(version.split(".")[0]) < 10 else 0)
    assert trt.OnnxParser(network, None).parse_from_file(str(model_path))
    config = builder.create_builder_config()
    for name in flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if dla_profile is not None:
        config.default_device_type, config.DLA_core = trt.DeviceType.DLA, 0
        if fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
        profile = builder.create_optimization_profile()
        profile.set_shape("input", *dla_profile)
        config.add_optimization_profile(profile)
    return trt, builder.build_serialized_network(network, config)


def test_fake_dla_with_a_dynamic_profile_runs_nothing_on_the_dla(bundle):
    """The rule the old builder broke: min 1 / max 8 on a DLA is a GPU engine with a DLA label."""
    dynamic = ((1, 1, 28, 28), (1, 1, 28, 28), (8, 1, 28, 28))
    trt, plan = _fake_build("8.6.1", bundle / "model.onnx", ["FP16"], dynamic)
    assert plan is None and "dynamic dimensions" in trt.calls[-1][1]
    trt, plan = _fake_build("8.6.1", bundle / "model.onnx", ["FP16"], dynamic, fallback=True)
    assert plan is not None and trt.dla_layers == 0
    trt, plan = _fake_build("8.6.1", bundle / "model.onnx", ["FP16"], ((8, 1, 28, 28),) * 3)
    assert plan is not None and trt.dla_layers == 2


@pytest.mark.parametrize("version", ["8.5.2", "8.6.1", "10.3.0"])
def test_fake_refuses_a_qdq_network_without_the_int8_flag_below_11(bundle, version):
    """What nvinfer does with an INT8 config and no int8-calib-file: FP16 flag only."""
    trt, plan = _fake_build(version, bundle / "model.int8.onnx", ["FP16"])
    assert plan is None and "int8 is not configured in the builder" in trt.calls[-1][1]
    assert _fake_build(version, bundle / "model.int8.onnx", ["INT8"])[1] is not None


def test_int8_build_sets_the_int8_flag_below_11(bundle):
    for version in ("8.6.1", "10.3.0"):
        trt = make_trt(version)
        build_engine(load_bundle(bundle), "int8", trt=trt, identity=ORIN)
        assert ("set_flag", "INT8") in trt.calls and not [c for c in trt.calls if c[0] == "build_error"]
