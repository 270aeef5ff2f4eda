"""Native TensorRT backend (name-based I/O API, TensorRT 8.5 through 10.x; no torch, no pycuda).

Flow: find the plan this device built from the bundle's ONNX (the device plan store, keyed by
the sha256 the manifest gives; never a plan lying in the bundle folder), read its sidecar record
and refuse *before* deserialising a record this device did not seal, or one for another TensorRT,
device or ONNX (another TensorRT or GPU would crash or fail opaquely), check the plan is the one
the record describes, deserialise (on the recorded DLA core, if any), allocate one device buffer
per I/O tensor for the profile's max batch, then per call: ``set_input_shape`` ->
host->device copy -> ``execute_async_v3`` -> device->host copy -> stream sync.
Batches larger than the profile's max are run in chunks, and a refittable engine's padded head
is cut back to the bundle's classes; an engine with a static batch (a DLA
plan) gets each chunk zero-padded to it and the padding's outputs dropped.  Tensor types map to numpy through
``dtypes`` (``trt.nptype`` crashes on TensorRT 8.5.2 with numpy >= 1.24).
"""
from __future__ import annotations

import platform
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import EngineError
from .plan_record import check_compatible, read_plan, read_record
from .plan_store import check_seal, stored_plan_path
from .build import make_plan
from .compat import import_tensorrt
from .dtypes import numpy_dtype
from .cuda_mem import DeviceBuffer, Stream, device_identity


class TrtBackend:
    """One TensorRT engine + execution context + device buffers."""

    @classmethod
    def for_bundle(cls, bundle: Any, precision: str = "fp32",
                   engine: str | Path | None = None) -> "TrtBackend":
        """Open the plan this device built for ``bundle`` at ``precision``: ``engine`` when given
        (a ``--save-engine`` copy), else the plan store's entry for the ONNX sha256 in the bundle's
        manifest.  Either way the record must carry this device's seal and that same sha256."""
        trt = import_tensorrt()
        onnx_precision = make_plan(str(trt.__version__), precision,
                                   trt.BuilderFlag.__members__.keys()).onnx_precision
        expected = bundle.onnx_sha256(onnx_precision)
        path = Path(engine) if engine else stored_plan_path(expected, precision)
        if not path.is_file():
            flag = "" if precision == "fp32" else f" --{precision}"
            raise EngineError(f"no TensorRT plan built on this device for {bundle.path} ({precision}, "
                              f"{path.name}); build it here with `edgecl-rt build {bundle.path}{flag}`")
        return cls(path, precision=precision, onnx_sha256=expected)

    def __init__(self, path: str | Path, precision: str = "fp32",
                 onnx_sha256: str | None = None) -> None:
        trt = import_tensorrt()
        self.trt, self.path, self.precision = trt, Path(path), precision
        self.meta = read_record(self.path)
        check_seal(self.meta, str(self.path))
        self.device = device_identity()
        self.gpu, self.cc = self.device[0], self.device[1]
        check_compatible(self.meta, trt.__version__, self.device, onnx_sha256, str(self.path))
        self.meta, plan = read_plan(self.path)
        check_seal(self.meta, str(self.path))  # the record read with the plan, not the one checked above
        check_compatible(self.meta, trt.__version__, self.device, onnx_sha256, str(self.path))
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        if self.meta.get("dla_core") is not None:
            self._runtime.DLA_core = int(self.meta["dla_core"])  # a DLA plan runs on its core
        self.engine = self._runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise EngineError(f"TensorRT could not deserialise {self.path}; rebuild it with "
                              "`edgecl-rt build BUNDLE`")
        self.context = self.engine.create_execution_context()
        self._lock = threading.Lock()
        self._setup_io()

    def _setup_io(self) -> None:
        trt, eng = self.trt, self.engine
        names = [eng.get_tensor_name(i) for i in range(eng.num_io_tensors)]
        inputs = [n for n in names if eng.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if eng.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise EngineError(f"{self.path} must have one input and one output, has "
                              f"{inputs} -> {outputs}; rebuild it with `edgecl-rt build BUNDLE`")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.in_dtype = numpy_dtype(eng.get_tensor_dtype(self.input_name), self.input_name)
        self.out_dtype = numpy_dtype(eng.get_tensor_dtype(self.output_name), self.output_name)
        in_shape = tuple(eng.get_tensor_shape(self.input_name))
        self.sample_shape = in_shape[1:]
        if in_shape[0] < 0:
            profile = eng.get_tensor_profile_shape(self.input_name, 0)
            self.min_batch, self.max_batch = int(profile[0][0]), int(profile[2][0])
        else:
            self.min_batch = self.max_batch = int(in_shape[0])
        self.num_classes = int(tuple(eng.get_tensor_shape(self.output_name))[-1])
        # a refittable engine's head is padded (head_pad): its record says how many classes are real
        self.classes = int(self.meta.get("classes") or self.num_classes)
        if not 0 < self.classes <= self.num_classes:
            raise EngineError(f"{self.path}'s record says {self.classes} classes, the engine outputs "
                              f"{self.num_classes}; rebuild it with `edgecl-rt build BUNDLE`")
        per_in = int(np.prod(self.sample_shape)) * self.in_dtype.itemsize
        per_out = self.num_classes * self.out_dtype.itemsize
        self.stream = Stream()
        self.d_in = DeviceBuffer(per_in * self.max_batch)
        self.d_out = DeviceBuffer(per_out * self.max_batch)
        self.context.set_tensor_address(self.input_name, self.d_in.address)
        self.context.set_tensor_address(self.output_name, self.d_out.address)

    def _run_chunk(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        if n < self.min_batch:  # a static-batch (DLA) engine runs only its one batch size
            x = np.concatenate([x, np.zeros((self.min_batch - n,) + x.shape[1:], x.dtype)])
        host_in = np.ascontiguousarray(x, dtype=self.in_dtype)
        host_out = np.empty((host_in.shape[0], self.num_classes), dtype=self.out_dtype)
        if not self.context.set_input_shape(self.input_name, tuple(host_in.shape)):
            raise EngineError(f"engine {self.path.name} rejects input shape {host_in.shape}")
        self.d_in.upload(host_in, self.stream)
        if not self.context.execute_async_v3(self.stream.address):
            raise EngineError(f"TensorRT execution of {self.path.name} failed")
        self.d_out.download(host_out, self.stream)
        self.stream.sync()
        return host_out[:n].astype(np.float32, copy=False)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N,K) float32; thread-safe (one context, guarded by a lock)."""
        if tuple(batch.shape[1:]) != tuple(self.sample_shape):
            raise EngineError(f"input sample shape {tuple(batch.shape[1:])} != engine's "
                              f"{tuple(self.sample_shape)}")
        with self._lock:
            parts = [self._run_chunk(batch[i:i + self.max_batch])
                     for i in range(0, batch.shape[0], self.max_batch)]
        return np.concatenate(parts, axis=0)[:, :self.classes]

    def describe(self) -> dict[str, Any]:
        return {"backend": "trt", "precision": self.precision, "model": self.path.name,
                "device": self._device_words(), "max_batch": self.max_batch,
                "versions": {"tensorrt": self.trt.__version__, "numpy": np.__version__,
                             "python": platform.python_version()}}

    def _device_words(self) -> str:
        core = self.meta.get("dla_core")
        dla = "" if core is None else f", DLA core {core}"
        return f"{self.gpu} (sm {self.cc}){dla}"

    def close(self) -> None:
        for buf in (getattr(self, "d_in", None), getattr(self, "d_out", None)):
            if buf is not None:
                buf.free()
        if getattr(self, "stream", None) is not None:
            self.stream.close()
        self.context = self.engine = None
