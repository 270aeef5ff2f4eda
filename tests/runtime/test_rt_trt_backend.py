"""Native TRT backend flow on fakes: header refusal before deserialising, chunking, verify."""
import enum
import types

import numpy as np
import pytest

from edgecl_runtime.backends import trt as trt_backend
from edgecl_runtime.engine_header import write_engine
from edgecl_runtime.errors import EngineError
from edgecl_runtime.verify import verify_bundle
from tests.runtime.rt_factory import _weights

MAX_BATCH = 4


class FakeBuffer:
    """Device memory as a numpy byte array; addresses index a registry."""

    registry: dict = {}

    def __init__(self, nbytes):
        self.mem = np.zeros(nbytes, np.uint8)
        self.address = id(self)
        FakeBuffer.registry[self.address] = self

    def upload(self, host, stream):
        self.mem[:host.nbytes] = host.view(np.uint8).reshape(-1)

    def download(self, host, stream):
        host.view(np.uint8).reshape(-1)[:] = self.mem[:host.nbytes]

    def free(self):
        pass


class FakeStream:
    address = 0

    def sync(self):
        pass

    def close(self):
        pass


def fake_trt(deserialised):
    w, b = _weights(4, 1, 0)
    mode = enum.Enum("TensorIOMode", "INPUT OUTPUT")

    class Context:
        def __init__(self):
            self.addr, self.shape, self.batches = {}, None, []

        def set_input_shape(self, name, shape):
            self.shape = shape
            return shape[0] <= MAX_BATCH

        def set_tensor_address(self, name, addr):
            self.addr[name] = addr

        def execute_async_v3(self, stream):
            n = self.shape[0]
            self.batches.append(n)
            x = FakeBuffer.registry[self.addr["input"]].mem[:n * 784 * 4].view(np.float32)
            y = (x.reshape(n, 784).astype(np.float64) @ w + b).astype(np.float32)
            FakeBuffer.registry[self.addr["logits"]].mem[:y.nbytes] = y.view(np.uint8).reshape(-1)
            return True

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, i):
            return ["input", "logits"][i]

        def get_tensor_mode(self, name):
            return mode.INPUT if name == "input" else mode.OUTPUT

        def get_tensor_dtype(self, name):
            return "float32"

        def get_tensor_shape(self, name):
            return (-1, 1, 28, 28) if name == "input" else (-1, 4)

        def get_tensor_profile_shape(self, name, i):
            return [(1, 1, 28, 28), (1, 1, 28, 28), (MAX_BATCH, 1, 28, 28)]

        def create_execution_context(self):
            self.context = Context()
            return self.context

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, plan):
            deserialised.append(plan)
            return Engine()

    logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    return types.SimpleNamespace(__version__="10.3.0", Logger=logger, Runtime=Runtime,
                                 TensorIOMode=mode, nptype=np.dtype)


@pytest.fixture()
def fakes(monkeypatch):
    deserialised = []
    monkeypatch.setattr(trt_backend, "import_tensorrt", lambda: fake_trt(deserialised))
    monkeypatch.setattr(trt_backend, "device_identity", lambda: ("Orin", "8.7"))
    monkeypatch.setattr(trt_backend, "DeviceBuffer", FakeBuffer)
    monkeypatch.setattr(trt_backend, "Stream", FakeStream)
    return deserialised


def _engine(bundle, **over):
    from edgecl_runtime.bundle import load_bundle

    meta = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", "precision": "fp32",
            "onnx_sha256": load_bundle(bundle).onnx_sha256("fp32"), "onnx_file": "model.onnx"}
    write_engine(bundle / "model.fp32.engine", {**meta, **over}, b"PLAN")


def test_verify_through_trt_backend_in_chunks(bundle, fakes):
    _engine(bundle)
    rec = verify_bundle(bundle, "trt", "fp32")
    assert rec["passed"], rec["reason"]
    assert rec["device"]["max_batch"] == MAX_BATCH and fakes == [b"PLAN"]


@pytest.mark.parametrize("over,msg", [({"tensorrt": "8.6.1"}, "TensorRT 8.6.1"),
                                      ({"gpu": "Xavier"}, "built on Xavier"),
                                      ({"onnx_sha256": "0" * 64}, "different ONNX")])
def test_foreign_engine_refused_before_deserialising(bundle, fakes, over, msg):
    _engine(bundle, **over)
    rec = verify_bundle(bundle, "trt", "fp32")
    assert not rec["passed"] and msg in rec["reason"] and "edgecl-rt build" in rec["reason"]
    assert fakes == []  # never handed to TensorRT
    with pytest.raises(EngineError, match=msg):
        trt_backend.TrtBackend.for_bundle(__import__("edgecl_runtime").load_bundle(bundle))
