"""Native TRT backend on the honest fakes: the real ``cuda_mem`` over a fake ``cuda.bindings.runtime``
(``(err, value)`` tuples, queued stream work), a per-version fake ``tensorrt``; sidecar refusal
before deserialising, chunking, dtype map, DLA core, CUDA error lines."""
import numpy as np
import pytest

from edgecl_runtime.backends.trt import cuda_mem
from edgecl_runtime.backends.trt import engine as trt_backend
from edgecl_runtime.bundle import load_bundle
from edgecl_runtime.errors import EngineError
from edgecl_runtime.backends.trt.plan_record import write_plan
from edgecl_runtime.bundle.verify import verify_bundle
from tests.runtime.backends.trt.fake_cudart import FakeCudaRuntime, cudaError_t, install
from tests.runtime.backends.trt.fake_tensorrt import Engine, make_trt
from tests.runtime.rt_factory import _weights

MAX_BATCH = 4


def _engine_factory(trt):
    w, b = _weights(4, 1, 0)
    compute = lambda x: x.reshape(len(x), -1).astype(np.float64) @ w + b  # noqa: E731
    return Engine(trt, compute, (1, 28, 28), 4, MAX_BATCH)


@pytest.fixture()
def cudart(monkeypatch):
    return install(monkeypatch, FakeCudaRuntime("Orin", (8, 7)))


def _fake_trt(monkeypatch, cudart, version="10.3.0"):
    trt = make_trt(version, cudart=cudart, engine_factory=_engine_factory)
    monkeypatch.setattr(trt_backend, "import_tensorrt", lambda: trt)
    return trt


def _plan(bundle, **over):
    meta = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", "precision": "fp32",
            "onnx_sha256": load_bundle(bundle).onnx_sha256("fp32"), "onnx_file": "model.onnx"}
    return write_plan(bundle / "model.fp32.plan", {**meta, **over}, b"PLAN")


@pytest.mark.parametrize("version", ["8.5.2", "8.6.1", "10.3.0"])
def test_verify_through_trt_backend_in_chunks(bundle, cudart, monkeypatch, version):
    trt = _fake_trt(monkeypatch, cudart, version)
    _plan(bundle, tensorrt=version)
    rec = verify_bundle(bundle, "trt", "fp32")
    assert rec["passed"], rec["reason"]
    assert rec["device"]["max_batch"] == MAX_BATCH and trt.engine.batches == [4, 4, 4, 4]
    assert ("deserialize", b"PLAN", -1) in trt.calls
    assert cudart.memory == {} and cudart.streams == {}  # every buffer and the stream released


def test_trt_8_5_nptype_really_crashes_and_is_not_used(cudart, monkeypatch):
    trt = make_trt("8.5.2")
    with pytest.raises(AttributeError, match="has no attribute 'bool'"):
        trt.nptype(trt.float32)  # TensorRT 8.5.2 with numpy 1.24 (Python 3.8, JetPack 5.1)
    assert make_trt("8.6.1").nptype(make_trt("8.6.1").bool) is np.bool_


@pytest.mark.parametrize("over,msg", [({"tensorrt": "8.6.1"}, "TensorRT 8.6.1"),
                                      ({"gpu": "Xavier"}, "built on Xavier"),
                                      ({"onnx_sha256": "0" * 64}, "different ONNX")])
def test_foreign_plan_refused_before_deserialising(bundle, cudart, monkeypatch, over, msg):
    trt = _fake_trt(monkeypatch, cudart)
    _plan(bundle, **over)
    rec = verify_bundle(bundle, "trt", "fp32")
    assert not rec["passed"] and msg in rec["reason"] and "edgecl-rt build" in rec["reason"]
    assert not [c for c in trt.calls if c[0] == "deserialize"]  # never handed to TensorRT
    with pytest.raises(EngineError, match=msg):
        trt_backend.TrtBackend.for_bundle(load_bundle(bundle))


def test_plan_without_record_is_foreign(bundle, cudart, monkeypatch):
    trt = _fake_trt(monkeypatch, cudart)
    (bundle / "model.fp32.plan").write_bytes(b"PLAN")  # e.g. written by trtexec --saveEngine
    rec = verify_bundle(bundle, "trt", "fp32")
    assert "foreign plan" in rec["reason"] and "edgecl-rt build" in rec["reason"]
    assert "\n" not in rec["reason"] and not [c for c in trt.calls if c[0] == "deserialize"]


def test_dla_plan_deserialises_on_its_core(bundle, cudart, monkeypatch):
    trt = _fake_trt(monkeypatch, cudart)
    _plan(bundle, dla_core=1, gpu_fallback=True)
    backend = trt_backend.TrtBackend.for_bundle(load_bundle(bundle))
    try:
        assert ("deserialize", b"PLAN", 1) in trt.calls and "DLA core 1" in backend.describe()["device"]
    finally:
        backend.close()


def test_execute_checks_bound_memory_and_order(bundle, cudart, monkeypatch):
    _fake_trt(monkeypatch, cudart)
    _plan(bundle)
    backend = trt_backend.TrtBackend.for_bundle(load_bundle(bundle))
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    first = backend.run(x)
    assert backend.context.calls[-2:] == ["set_input_shape", "execute_async_v3"]
    backend.d_out.free()  # an output address that is no longer device memory
    with pytest.raises(EngineError, match="execution of model.fp32.plan failed"):
        backend.run(x)
    backend.close()
    w, b = _weights(4, 1, 0)
    np.testing.assert_allclose(first, x.reshape(2, -1) @ w + b, atol=1e-4)


def test_fake_stream_work_waits_for_synchronize(cudart):
    stream, buf = cuda_mem.Stream(), cuda_mem.DeviceBuffer(16)
    src = np.arange(4, dtype=np.float32)  # must outlive the sync: the copy happens then
    buf.upload(src, stream)
    host = np.zeros(4, np.float32)
    buf.download(host, stream)
    assert not host.any()  # nothing happens before the sync: a missing sync reads zeros
    stream.sync()
    assert host.tolist() == [0, 1, 2, 3]
    buf.free()
    stream.close()


def test_cuda_errors_are_one_line(cudart):
    cudart.failing["cudaMalloc"] = cudaError_t.cudaErrorMemoryAllocation
    with pytest.raises(EngineError, match="CUDA cudaMalloc failed: cudaErrorMemoryAllocation"):
        cuda_mem.DeviceBuffer(1 << 30)
    assert cuda_mem.device_identity() == ("Orin", "8.7")  # char[256] name, NULs stripped
    cudart.failing["cudaGetDeviceProperties"] = cudaError_t.cudaErrorInsufficientDriver
    with pytest.raises(EngineError) as info:
        cuda_mem.device_identity()
    msg = str(info.value)
    assert "needs a newer driver" in msg and "cuda-python>=12.6,<12.7" in msg and "\n" not in msg
