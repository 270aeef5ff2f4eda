"""TensorRT: plan + sidecar record, version/precision decisions, builder flow on the honest fake."""
import json

import pytest

from edgecl_runtime.bundle import load_bundle
from edgecl_runtime.errors import EngineError
from edgecl_runtime.backends.trt.plan_record import (check_compatible, read_plan, read_record, sidecar_path,
                                        write_plan)
from edgecl_runtime.backends.trt.build import (BuildOptions, build_engine, layers_to_pin, make_plan, network_flag_bits,
                                      precision_constraint_flag, profile_shapes, timing_cache_path)
from edgecl_runtime.backends.trt.compat import NO_TENSORRT, tensorrt_available, version_tuple
from tests.runtime.backends.trt.fake_tensorrt import make_trt

META = {"tensorrt": "8.6.2", "gpu": "Orin", "compute_capability": "8.7", "precision": "fp16",
        "onnx_sha256": "ab" * 32}
ORIN = lambda: ("Orin", "8.7")  # noqa: E731


def test_plan_is_written_untouched_beside_its_record(tmp_path):
    path = write_plan(tmp_path / "model.fp16.plan", META, b"PLANBYTES")
    assert path.read_bytes() == b"PLANBYTES"  # what trtexec / Triton / DeepStream load
    record = json.loads(sidecar_path(path).read_text())
    assert sidecar_path(path).name == "model.fp16.plan.json" and record["record_version"] == 2
    meta, plan = read_plan(path)
    assert plan == b"PLANBYTES" and meta == record and read_record(path)["gpu"] == "Orin"
    with pytest.raises(ValueError, match="lacks"):
        write_plan(tmp_path / "x.plan", {"tensorrt": "10.3"}, b"p")
    assert not (tmp_path / "x.plan").exists()


def test_plans_without_a_usable_record_are_refused(tmp_path):
    (tmp_path / "foreign.plan").write_bytes(b"\x00" * 64)
    with pytest.raises(EngineError, match=r"foreign plan: it has no compatibility record "
                                          r"foreign\.plan\.json; rebuild.*edgecl-rt build"):
        read_record(tmp_path / "foreign.plan")
    (tmp_path / "old.engine").write_bytes(b"EDGECLRT\x02\x00\x00\x00{}")
    with pytest.raises(EngineError, match="old header format"):
        read_record(tmp_path / "old.engine")
    path = write_plan(tmp_path / "m.plan", META, b"PLAN")
    path.write_bytes(b"OTHER")  # replaced under its record
    with pytest.raises(EngineError, match="not the plan its record m.plan.json describes"):
        read_plan(path)
    sidecar_path(path).write_text(json.dumps({**META, "record_version": 9, "plan_sha256": "0"}))
    with pytest.raises(EngineError, match="newer than this runtime"):
        read_record(path)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(EngineError, match="cannot read the plan record"):
        read_record(path)


def test_compatibility_check():
    check_compatible(META, "8.6.2", ("Orin", "8.7"), "ab" * 32)
    with pytest.raises(EngineError, match=r"TensorRT 8\.6\.2, this device has 10\.3.*edgecl-rt build"):
        check_compatible(META, "10.3.0", ("Orin", "8.7"))
    with pytest.raises(EngineError, match=r"built on Orin \(sm 8\.7\), this device is Xavier"):
        check_compatible(META, "8.6.2", ("Xavier", "7.2"))
    with pytest.raises(EngineError, match="different ONNX"):
        check_compatible(META, "8.6.2", ("Orin", "8.7"), "cd" * 32)


def test_an_orin_nx_plan_is_not_taken_for_an_agx_orin_one():
    """Every Orin module says GPU "Orin", sm 8.7: the record keeps memory and module name too."""
    nx = {**META, "device_memory_gib": 15, "module": "NVIDIA Jetson Orin NX Engineering Reference Developer Kit"}
    agx = ("Orin", "8.7", 30, "NVIDIA Jetson AGX Orin Developer Kit")
    with pytest.raises(EngineError, match=r"built on Orin \(sm 8\.7, NVIDIA Jetson Orin NX.*15 GiB\), "
                                          r"this device is Orin \(sm 8\.7, NVIDIA Jetson AGX Orin.*30 GiB\)"):
        check_compatible(nx, "8.6.2", agx)
    with pytest.raises(EngineError, match="this device is"):
        check_compatible({**nx, "module": ""}, "8.6.2", agx)  # memory alone tells them apart
    check_compatible(nx, "8.6.2", ("Orin", "8.7", 15, nx["module"]))


@pytest.mark.parametrize("version,prec,onnx,net,flags,pin", [
    ("8.5.2", "fp32", "fp32", ("EXPLICIT_BATCH",), (), False),
    ("8.5.2", "fp16", "fp32", ("EXPLICIT_BATCH",), ("FP16", "OBEY_PRECISION_CONSTRAINTS"), True),
    ("8.6.1", "int8", "int8", ("EXPLICIT_BATCH",), ("INT8",), False),
    ("10.3.0", "fp16", "fp32", (), ("FP16", "OBEY_PRECISION_CONSTRAINTS"), True),
    ("10.3.0", "trt_int8", "int8", (), ("INT8",), False),
    ("11.0.0", "fp16", "fp16", ("STRONGLY_TYPED",), (), False),
    ("11.0.0", "int8", "int8", ("STRONGLY_TYPED",), (), False),
])
def test_plan_per_version_with_that_versions_flags(version, prec, onnx, net, flags, pin):
    trt = make_trt(version)
    plan = make_plan(version, prec, trt.BuilderFlag.__members__.keys())
    assert (plan.onnx_precision, plan.network_flags, plan.builder_flags, plan.pin_fp32) == \
        (onnx, net, flags, pin)
    assert plan.clear_flags == (("TF32",) if plan.precision == "fp32" else ())
    for name in plan.builder_flags + plan.clear_flags:
        assert name in trt.BuilderFlag.__members__  # every flag asked for exists in that version
    network_flag_bits(trt, plan.network_flags)  # and every network flag


def test_constraint_flag_name_and_versions():
    assert precision_constraint_flag({"FP16", "STRICT_TYPES"}) == "STRICT_TYPES"
    assert make_plan("8.0.1", "fp16", {"FP16", "STRICT_TYPES"}).builder_flags == ("FP16", "STRICT_TYPES")
    with pytest.raises(EngineError):
        precision_constraint_flag({"FP16"})
    assert version_tuple("8.6.1.post1") == (8, 6, 1) and version_tuple("10.3") == (10, 3)
    # kSTRONGLY_TYPED is 1 in 10.x and 0 in 11.x (include/NvInfer.h, release/10.3 and release/11.0)
    assert network_flag_bits(make_trt("10.3.0"), ["STRONGLY_TYPED"]) == 2
    assert network_flag_bits(make_trt("11.0.0"), ["STRONGLY_TYPED"]) == 1


def test_layers_to_pin():
    layers = [("/blocks.0/norm1/ReduceMean", "LayerType.REDUCE"),
              ("/blocks.0/norm1/Sub", "LayerType.ELEMENTWISE"),
              ("/blocks.0/norm1/Sqrt", "UNARY"),
              ("/blocks.0/attn/Softmax", "LayerType.SOFTMAX"),
              ("/blocks.0/attn/qkv/MatMul", "LayerType.MATRIX_MULTIPLY"),
              ("/blocks.0/mlp/fc1/Add", "LayerType.ELEMENTWISE"),
              ("LayerNormalization_12", "LayerType.NORMALIZATION"),
              ("/norm/Constant", "LayerType.CONSTANT"),
              ("/fc_norm/Div", "LayerType.ELEMENTWISE"),
              ("/head/Gemm", "LayerType.MATRIX_MULTIPLY"),
              ("/normalizer_free/Add", "LayerType.ELEMENTWISE")]
    assert layers_to_pin(layers) == [0, 1, 2, 3, 6, 8]
    ints = [("/norm1/ReduceProd", "REDUCE", False), ("/norm1/Div", "ELEMENTWISE", False),
            ("/norm1/ReduceMean", "REDUCE", True)]
    assert layers_to_pin(ints) == [2]  # integer shape arithmetic is never pinned


def test_profile_shapes():
    assert profile_shapes((-1, 3, 224, 224), 8) == ((1, 3, 224, 224), (1, 3, 224, 224),
                                                   (8, 3, 224, 224))
    assert profile_shapes((-1, 1, 28, 28), 16, 4)[1] == (4, 1, 28, 28)
    assert profile_shapes((1, 1, 28, 28), 1) == ((1, 1, 28, 28),) * 3
    for bad in [((-1, -1, 28, 28), 8, 1), ((-1, 1, 28, 28), 4, 8), ((2, 1, 28, 28), 8, 1)]:
        with pytest.raises(EngineError):
            profile_shapes(*bad)


def test_timing_cache_path_is_per_version_and_gpu(tmp_path):
    p = timing_cache_path(tmp_path, "10.3.0", "NVIDIA Orin (nvgpu)", "8.7")
    assert p.name == "timing-trt10.3.0-sm87-nvidia-orin-nvgpu.cache"


def test_build_fp16_on_trt8_writes_plan_and_record(bundle, tmp_path):
    trt = make_trt("8.6.1")
    (tmp_path / "cache").mkdir()
    path = build_engine(load_bundle(bundle), "fp16", BuildOptions(max_batch=4, cache_dir=tmp_path / "cache"),
                        trt=trt, identity=ORIN)
    calls = trt.calls
    assert ("create_network", 1) in calls and ("parse", "model.onnx") in calls
    assert ("set_flag", "FP16") in calls and ("set_flag", "OBEY_PRECISION_CONSTRAINTS") in calls
    assert ("pool", "WORKSPACE", 1024 << 20) in calls
    assert ("profile", "input", (1, 1, 28, 28), (1, 1, 28, 28), (4, 1, 28, 28)) in calls
    assert path.name == "model.fp16.plan" and path.read_bytes() == b"SERIALIZED-8.6.1"
    meta = read_record(path)
    assert meta["tensorrt"] == "8.6.1" and meta["max_batch"] == 4 and meta["onnx_file"] == "model.onnx"
    assert meta["onnx_sha256"] == load_bundle(bundle).onnx_sha256("fp32")
    assert meta["input_shapes"]["max"] == [4, 1, 28, 28] and meta["dla_core"] is None
    assert timing_cache_path(tmp_path / "cache", "8.6.1", "Orin", "8.7").read_bytes() == b"CACHE"
    trt2 = make_trt("8.6.1")  # second build reuses the saved timing cache
    build_engine(load_bundle(bundle), "fp16", BuildOptions(cache_dir=tmp_path / "cache"), trt=trt2, identity=ORIN)
    assert ("timing_cache_in", b"CACHE") in trt2.calls


def test_build_strongly_typed_and_fp32(bundle):
    trt = make_trt("11.0.0")  # layers have no `precision`: touching it would raise
    build_engine(load_bundle(bundle), "fp16", trt=trt, identity=lambda: ("H200", "9.0"))
    assert ("create_network", 1) in trt.calls and ("parse", "model.fp16.onnx") in trt.calls
    assert not [c for c in trt.calls if c[0] == "set_flag"] and ("pinned", []) in trt.calls
    trt = make_trt("10.3.0")
    build_engine(load_bundle(bundle), "fp32", trt=trt, identity=lambda: ("H200", "9.0"))
    assert ("create_network", 0) in trt.calls and ("clear_flag", "TF32") in trt.calls


def test_failed_build_is_one_line_error_and_writes_nothing(bundle, monkeypatch):
    from tests.runtime.backends.trt import fake_tensorrt

    monkeypatch.setattr(fake_tensorrt.Builder, "build_serialized_network", lambda self, n, c: None)
    trt = make_trt()
    with pytest.raises(EngineError, match="failed to build the fp32 engine.*--workspace-mb"):
        build_engine(load_bundle(bundle), "fp32", trt=trt, identity=ORIN)
    assert not list(bundle.glob("*.plan*"))


def test_trt_backend_needs_a_plan(bundle, monkeypatch):
    from edgecl_runtime.backends.trt import TrtBackend
    from edgecl_runtime.backends.trt import engine as trt_backend

    monkeypatch.setattr(trt_backend, "import_tensorrt", lambda: make_trt("10.3.0"))
    with pytest.raises(EngineError, match=r"no TensorRT plan built on this device .*model\.fp16\.plan\); "
                                          r"build it here with `edgecl-rt build .* --fp16"):
        TrtBackend.for_bundle(load_bundle(bundle), "fp16")


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT present: the missing-TensorRT message "
                    "cannot be observed")
def test_missing_tensorrt_message(bundle):
    from edgecl_runtime.backends.trt import TrtBackend

    write_plan(bundle / "model.fp32.plan", META, b"plan")
    with pytest.raises(EngineError, match="comes with JetPack"):
        TrtBackend.for_bundle(load_bundle(bundle), "fp32")
    assert "edgecl-rt build" in NO_TENSORRT


@pytest.mark.trt
@pytest.mark.skipif(not tensorrt_available(), reason="TensorRT is not installable on this machine "
                    "(it ships with JetPack / NVIDIA wheels for GPU hosts); run on a Jetson")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_real_build_and_verify(bundle, tmp_path, precision):
    from edgecl_runtime.bundle.verify import verify_bundle

    path = build_engine(load_bundle(bundle), precision, BuildOptions(max_batch=4, cache_dir=tmp_path))
    rec = verify_bundle(bundle, "trt", precision)
    assert rec["passed"], rec["reason"]
    assert path.read_bytes()[:8] != b"EDGECLRT"  # the plan as TensorRT wrote it
