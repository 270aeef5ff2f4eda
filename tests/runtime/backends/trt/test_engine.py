"""Native TRT backend on the honest fakes: the real ``cuda_mem`` over a fake ``cuda.bindings.runtime``
(``(err, value)`` tuples, queued stream work), a per-version fake ``tensorrt``; sidecar refusal
before deserialising, chunking, dtype map, DLA core, CUDA error lines."""
import json

import numpy as np
import pytest

from edgecl_runtime.backends.trt import cuda_mem
from edgecl_runtime.backends.trt import engine as trt_backend
from edgecl_runtime.bundle import load_bundle
from edgecl_runtime.errors import EngineError
from edgecl_runtime.backends.trt.plan_record import sidecar_path, write_plan
from edgecl_runtime.backends.trt.plan_store import seal, stored_plan_path
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


def _plan(bundle, sealed=True, **over):
    """A plan as `edgecl-rt build` leaves it: in the device store, its record sealed."""
    sha = load_bundle(bundle).onnx_sha256("fp32")
    meta = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", "precision": "fp32",
            "onnx_sha256": sha, "onnx_file": "model.onnx", **over}
    return write_plan(stored_plan_path(sha, "fp32", over.get("dla_core")), meta, b"PLAN",
                      sealer=seal if sealed else None)


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
    path = stored_plan_path(load_bundle(bundle).onnx_sha256("fp32"), "fp32")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PLAN")  # e.g. written by trtexec --saveEngine
    rec = verify_bundle(bundle, "trt", "fp32")
    assert "foreign plan" in rec["reason"] and "edgecl-rt build" in rec["reason"]
    assert "\n" not in rec["reason"] and not [c for c in trt.calls if c[0] == "deserialize"]


def test_dla_plan_deserialises_on_its_core(bundle, cudart, monkeypatch):
    trt = _fake_trt(monkeypatch, cudart)
    path = _plan(bundle, dla_core=1, gpu_fallback=True)
    backend = trt_backend.TrtBackend.for_bundle(load_bundle(bundle), engine=path)
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
    assert cuda_mem.device_identity()[:2] == ("Orin", "8.7")  # char[256] name, NULs stripped
    cudart.failing["cudaGetDeviceProperties"] = cudaError_t.cudaErrorInsufficientDriver
    with pytest.raises(EngineError) as info:
        cuda_mem.device_identity()
    msg = str(info.value)
    assert "needs a newer driver" in msg and "cuda-python>=12.6,<12.7" in msg and "\n" not in msg


def test_static_batch_engine_pads_each_chunk(bundle, cudart, monkeypatch):
    """A DLA plan has min = max batch: a smaller batch is padded to it, the padding's rows dropped."""
    w, b = _weights(4, 1, 0)
    factory = lambda trt: Engine(trt, lambda x: x.reshape(len(x), -1) @ w + b, (1, 28, 28), 4, 4,  # noqa: E731
                                 min_batch=4)
    trt = make_trt("10.3.0", cudart=cudart, engine_factory=factory)
    monkeypatch.setattr(trt_backend, "import_tensorrt", lambda: trt)
    path = _plan(bundle, dla_core=0, gpu_fallback=True)
    backend = trt_backend.TrtBackend.for_bundle(load_bundle(bundle), engine=path)
    x = np.random.default_rng(1).random((6, 1, 28, 28), dtype=np.float32)
    try:
        got = backend.run(x)
    finally:
        backend.close()
    assert trt.engine.batches == [4, 4] and got.shape == (6, 4)
    np.testing.assert_allclose(got, x.reshape(6, -1) @ w + b, atol=1e-4)


def test_legacy_cuda_cudart_module_path(bundle, monkeypatch):
    """cuda-python 11.8.x / 12.2.x (the JetPack 5 and 6.0 pins) only have ``from cuda import cudart``."""
    legacy = install(monkeypatch, FakeCudaRuntime("Orin", (8, 7), 16 << 30), legacy=True)
    assert cuda_mem.cudart() is legacy
    _fake_trt(monkeypatch, legacy)
    _plan(bundle)
    rec = verify_bundle(bundle, "trt", "fp32")
    assert rec["passed"], rec["reason"]
    assert cuda_mem.device_identity() == ("Orin", "8.7", 16, "")


def test_module_name_comes_from_the_device_tree(cudart, tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Orin NX Engineering Reference Developer Kit\0")
    monkeypatch.setattr(cuda_mem, "MODULE_FILE", model)
    assert cuda_mem.device_identity().module == "NVIDIA Jetson Orin NX Engineering Reference Developer Kit"


def _signed(bundle, tmp_path):
    from edgecl_runtime.bundle.signing import generate_keypair, load_trust, sign_bundle

    private, public = generate_keypair(tmp_path / "keys")
    sign_bundle(bundle, private)
    return load_trust(public)


def test_a_plan_planted_beside_a_signed_bundle_never_reaches_tensorrt(bundle, cudart, monkeypatch, tmp_path):
    """The plan and its record are outside the signature: whoever writes the bundle folder could
    put any plan there, with a record that describes it perfectly."""
    trt = _fake_trt(monkeypatch, cudart)
    keys = _signed(bundle, tmp_path)
    meta = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", "precision": "fp32",
            "onnx_sha256": load_bundle(bundle).onnx_sha256("fp32"), "onnx_file": "model.onnx"}
    write_plan(bundle / "model.fp32.plan", meta, b"EVIL")
    rec = verify_bundle(bundle, "trt", "fp32", trusted=keys)
    assert not rec["passed"] and "no TensorRT plan built on this device" in rec["reason"]
    assert not [c for c in trt.calls if c[0] == "deserialize"]
    with pytest.raises(EngineError, match="no valid device seal"):  # named explicitly: still refused
        trt_backend.TrtBackend.for_bundle(load_bundle(bundle), engine=bundle / "model.fp32.plan")
    assert not [c for c in trt.calls if c[0] == "deserialize"]


def test_a_plan_in_the_store_needs_this_devices_seal(bundle, cudart, monkeypatch, tmp_path, plan_store):
    trt = _fake_trt(monkeypatch, cudart)
    keys = _signed(bundle, tmp_path)
    path = _plan(bundle, sealed=False)  # a record the device never sealed
    with pytest.raises(EngineError, match="no valid device seal"):
        trt_backend.TrtBackend.for_bundle(load_bundle(bundle))
    path = _plan(bundle)
    rec = json.loads(sidecar_path(path).read_text())
    (plan_store / "device.key").write_bytes(b"k" * 32)  # another device's key
    with pytest.raises(EngineError, match="no valid device seal"):
        trt_backend.TrtBackend.for_bundle(load_bundle(bundle))
    (plan_store / "device.key").unlink()
    path = _plan(bundle)  # fresh key, fresh seal
    rec = json.loads(sidecar_path(path).read_text())
    sidecar_path(path).write_text(json.dumps({**rec, "onnx_sha256": "0" * 64}))  # edited after sealing
    with pytest.raises(EngineError, match="no valid device seal"):
        trt_backend.TrtBackend.for_bundle(load_bundle(bundle))
    assert not [c for c in trt.calls if c[0] == "deserialize"]
    _plan(bundle)
    assert verify_bundle(bundle, "trt", "fp32", trusted=keys)["passed"]


def test_a_sealed_plan_for_another_onnx_is_refused(bundle, cudart, monkeypatch):
    """Sealed by this device, but built from another model: filed under this bundle's ONNX hash."""
    trt = _fake_trt(monkeypatch, cudart)
    sha = load_bundle(bundle).onnx_sha256("fp32")
    meta = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", "precision": "fp32",
            "onnx_sha256": "1" * 64, "onnx_file": "model.onnx"}
    write_plan(stored_plan_path(sha, "fp32"), meta, b"PLAN", sealer=seal)
    with pytest.raises(EngineError, match="different ONNX"):
        trt_backend.TrtBackend.for_bundle(load_bundle(bundle))
    assert not [c for c in trt.calls if c[0] == "deserialize"]
