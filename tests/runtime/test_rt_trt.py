"""TensorRT: engine header, version/precision decisions, builder flow on a fake `tensorrt`."""
import enum
import types

import pytest

from edgecl_runtime.bundle import load_bundle
from edgecl_runtime.engine_header import (check_compatible, pack_header, read_engine, read_header,
                                          unpack_header, write_engine)
from edgecl_runtime.errors import EngineError
from edgecl_runtime.trt_build import (build_engine, layers_to_pin, make_plan, network_flag_bits,
                                      precision_constraint_flag, profile_shapes, timing_cache_path)
from edgecl_runtime.trt_compat import NO_TENSORRT, tensorrt_available, version_tuple

META = {"tensorrt": "8.6.2", "gpu": "Orin", "compute_capability": "8.7", "precision": "fp16",
        "onnx_sha256": "ab" * 32}


def test_header_round_trip(tmp_path):
    path = write_engine(tmp_path / "m.engine", META, b"PLANBYTES")
    meta, plan = read_engine(path)
    assert plan == b"PLANBYTES" and meta["header_version"] == 1 and meta["gpu"] == "Orin"
    assert read_header(path) == meta
    blob = pack_header(META)
    assert unpack_header(blob + b"x")[1] == len(blob)


def test_header_refusals(tmp_path):
    (tmp_path / "raw.engine").write_bytes(b"\x00" * 64)
    with pytest.raises(EngineError, match="no edgecl-rt header.*edgecl-rt build"):
        read_header(tmp_path / "raw.engine")
    with pytest.raises(EngineError, match="newer than this runtime"):
        unpack_header(pack_header({**META, "header_version": 99}))
    with pytest.raises(EngineError, match="truncated or corrupt"):
        unpack_header(pack_header(META)[:-3])
    with pytest.raises(ValueError, match="lacks"):
        pack_header({"tensorrt": "10.3"})


def test_compatibility_check():
    check_compatible(META, "8.6.2", "Orin", "8.7", "ab" * 32)
    with pytest.raises(EngineError, match=r"TensorRT 8\.6\.2, this device has 10\.3.*edgecl-rt build"):
        check_compatible(META, "10.3.0", "Orin", "8.7")
    with pytest.raises(EngineError, match=r"built on Orin \(sm 8\.7\), this device is Xavier"):
        check_compatible(META, "8.6.2", "Xavier", "7.2")
    with pytest.raises(EngineError, match="different ONNX"):
        check_compatible(META, "8.6.2", "Orin", "8.7", "cd" * 32)


@pytest.mark.parametrize("version,prec,onnx,net,flags,pin", [
    ("8.5.2", "fp32", "fp32", ("EXPLICIT_BATCH",), (), False),
    ("8.6.1", "fp16", "fp32", ("EXPLICIT_BATCH",), ("FP16", "OBEY_PRECISION_CONSTRAINTS"), True),
    ("8.6.1", "int8", "int8", ("EXPLICIT_BATCH",), ("INT8",), False),
    ("10.3.0", "fp16", "fp32", (), ("FP16", "OBEY_PRECISION_CONSTRAINTS"), True),
    ("10.3.0", "trt_int8", "int8", (), ("INT8",), False),
    ("11.0.0", "fp16", "fp16", ("STRONGLY_TYPED",), (), False),
    ("11.2.0", "int8", "int8", ("STRONGLY_TYPED",), (), False),
])
def test_plan_per_version(version, prec, onnx, net, flags, pin):
    plan = make_plan(version, prec)
    assert (plan.onnx_precision, plan.network_flags, plan.builder_flags, plan.pin_fp32) == \
        (onnx, net, flags, pin)
    assert plan.clear_flags == (("TF32",) if plan.precision == "fp32" else ())


def test_constraint_flag_name_and_versions():
    assert precision_constraint_flag({"FP16", "STRICT_TYPES"}) == "STRICT_TYPES"
    assert make_plan("8.0.1", "fp16", {"FP16", "STRICT_TYPES"}).builder_flags == ("FP16", "STRICT_TYPES")
    with pytest.raises(EngineError):
        precision_constraint_flag({"FP16"})
    assert version_tuple("8.6.1.post1") == (8, 6, 1) and version_tuple("10.3") == (10, 3)


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


# ---- fake tensorrt: records what the builder flow asks of it ----------------------------

def fake_trt(version="8.6.1"):
    trt = types.SimpleNamespace(__version__=version, float32="f32", float16="f16", calls=[])
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", "FP16 INT8 TF32 OBEY_PRECISION_CONSTRAINTS")
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NDCF", {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1})
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", "WORKSPACE")

    class Logger:
        WARNING = 2

        def __init__(self, level):
            pass

    class Tensor:
        def __init__(self, name, shape, dtype="f32"):
            self.name, self.shape, self.dtype = name, shape, dtype

    class Layer:
        def __init__(self, name, ltype):
            self.name, self.type, self.precision, self.num_outputs = name, ltype, None, 1
            self.out_types = {}
            self.out = Tensor(name + ":0", (-1,))

        def get_output(self, j):
            return self.out

        def set_output_type(self, j, t):
            self.out_types[j] = t

    class Network:
        def __init__(self, flags):
            trt.calls.append(("create_network", flags))
            self.layers = [Layer("/norm1/ReduceMean", "LayerType.REDUCE"),
                           Layer("/fc/Gemm", "LayerType.MATRIX_MULTIPLY")]
            self.num_layers, self.num_inputs = 2, 1

        def get_layer(self, i):
            return self.layers[i]

        def get_input(self, i):
            return Tensor("input", (-1, 1, 28, 28))

    class Parser:
        num_errors = 0

        def __init__(self, network, logger):
            pass

        def parse_from_file(self, path):
            trt.calls.append(("parse", path.rsplit("/", 1)[-1]))
            return True

    class Profile:
        def set_shape(self, name, mn, opt, mx):
            trt.calls.append(("profile", name, mn, opt, mx))

    class Cache:
        def serialize(self):
            return b"CACHE"

    class Config:
        def set_memory_pool_limit(self, pool, size):
            trt.calls.append(("pool", pool.name, size))

        def set_flag(self, f):
            trt.calls.append(("set_flag", f.name))

        def clear_flag(self, f):
            trt.calls.append(("clear_flag", f.name))

        def add_optimization_profile(self, p):
            pass

        def create_timing_cache(self, data):
            trt.calls.append(("timing_cache_in", bytes(data)))
            return Cache()

        def set_timing_cache(self, cache, ignore_mismatch):
            pass

        def get_timing_cache(self):
            return Cache()

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            self.network = Network(flags)
            return self.network

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            trt.calls.append(("pinned", [l.name for l in network.layers if l.precision == "f32"]))
            return b"SERIALIZED"

    trt.Logger, trt.Builder, trt.OnnxParser = Logger, Builder, Parser
    return trt


def test_build_flow_fp16_on_trt8(bundle, tmp_path):
    trt = fake_trt("8.6.1")
    (tmp_path / "cache").mkdir()
    path = build_engine(load_bundle(bundle), "fp16", max_batch=4, cache_dir=tmp_path / "cache",
                        trt=trt, identity=lambda: ("Orin", "8.7"))
    calls = trt.calls
    assert ("create_network", 1) in calls and ("parse", "model.onnx") in calls
    assert ("set_flag", "FP16") in calls and ("set_flag", "OBEY_PRECISION_CONSTRAINTS") in calls
    assert ("pool", "WORKSPACE", 1024 << 20) in calls
    assert ("profile", "input", (1, 1, 28, 28), (1, 1, 28, 28), (4, 1, 28, 28)) in calls
    assert ("pinned", ["/norm1/ReduceMean"]) in calls
    meta, plan = read_engine(path)
    assert path.name == "model.fp16.engine" and plan == b"SERIALIZED"
    assert meta["tensorrt"] == "8.6.1" and meta["max_batch"] == 4 and meta["onnx_file"] == "model.onnx"
    assert meta["onnx_sha256"] == load_bundle(bundle).onnx_sha256("fp32")
    cache = timing_cache_path(tmp_path / "cache", "8.6.1", "Orin", "8.7")
    assert cache.read_bytes() == b"CACHE"
    trt2 = fake_trt("8.6.1")  # second build reuses the saved timing cache
    build_engine(load_bundle(bundle), "fp16", cache_dir=tmp_path / "cache", trt=trt2,
                 identity=lambda: ("Orin", "8.7"))
    assert ("timing_cache_in", b"CACHE") in trt2.calls


def test_build_flow_strongly_typed_and_fp32(bundle):
    trt = fake_trt("11.0.0")
    build_engine(load_bundle(bundle), "int8", trt=trt, identity=lambda: ("H200", "9.0"))
    assert ("create_network", 2) in trt.calls and ("parse", "model.int8.onnx") in trt.calls
    assert not [c for c in trt.calls if c[0] == "set_flag"] and ("pinned", []) in trt.calls
    trt = fake_trt("10.3.0")
    build_engine(load_bundle(bundle), "fp32", trt=trt, identity=lambda: ("H200", "9.0"))
    assert ("create_network", 0) in trt.calls and ("clear_flag", "TF32") in trt.calls
    assert network_flag_bits(trt, ["EXPLICIT_BATCH", "STRONGLY_TYPED"]) == 3


def test_failed_build_is_one_line_error(bundle):
    trt = fake_trt()
    trt.Builder.build_serialized_network = lambda self, n, c: None
    with pytest.raises(EngineError, match="failed to build the fp32 engine"):
        build_engine(load_bundle(bundle), "fp32", trt=trt, identity=lambda: ("x", "1.0"))


def test_trt_backend_needs_an_engine(bundle):
    from edgecl_runtime.backends.trt import TrtBackend

    with pytest.raises(EngineError, match=r"no TensorRT engine model\.fp16\.engine.*edgecl-rt build .* --fp16"):
        TrtBackend.for_bundle(load_bundle(bundle), "fp16")


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT present: the missing-TensorRT message "
                    "cannot be observed")
def test_missing_tensorrt_message(bundle):
    from edgecl_runtime.backends.trt import TrtBackend

    write_engine(bundle / "model.fp32.engine", META, b"plan")
    with pytest.raises(EngineError, match="comes with JetPack"):
        TrtBackend.for_bundle(load_bundle(bundle), "fp32")
    assert "edgecl-rt build" in NO_TENSORRT


@pytest.mark.trt
@pytest.mark.skipif(not tensorrt_available(), reason="TensorRT is not installable on this machine "
                    "(it ships with JetPack / NVIDIA wheels for GPU hosts); run on a Jetson")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_real_build_and_verify(bundle, tmp_path, precision):
    from edgecl_runtime.verify import verify_bundle

    build_engine(load_bundle(bundle), precision, max_batch=4, cache_dir=tmp_path)
    rec = verify_bundle(bundle, "trt", precision)
    assert rec["passed"], rec["reason"]
