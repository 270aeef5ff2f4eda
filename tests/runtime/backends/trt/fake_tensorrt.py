"""A fake ``tensorrt`` module that fails where the real one of each version fails.

Per version (8.5.2 JetPack 5.1, 8.6.1 JetPack 6.0, 10.3.0 JetPack 6.1/6.2, 11.0.0):
* enums with the values of each release's ``include/NvInfer.h``: 8.x has STRICT_TYPES and
  EXPLICIT_PRECISION (= 1); 10 has STRONGLY_TYPED (= 1) and no STRICT_TYPES; 11 has no
  FP16/INT8/OBEY/PREFER flags (the others keep their numbers), no EXPLICIT_BATCH, STRONGLY_TYPED
  = 0, and layers without ``precision``; NORMALIZATION exists from 8.6, CAST and INT64 from 10.
* ``nptype`` as 8.5.2 writes it (``np.bool``), run against the numpy pip gives Python 3.8 on
  JetPack 5 (1.24: no ``np.bool``): every call raises AttributeError.
* the ONNX parser builds layers from the model's nodes (integer tensors stay integer) and fails,
  like onnx-tensorrt 8.5, on LayerNormalization ("Plugin not found"); an 8.x network without
  EXPLICIT_BATCH cannot hold an ONNX model.
* the builder fails (returns None) when a non-float layer is pinned to float32 under a precision
  constraint flag; when a weakly typed (< 11) Q/DQ network lacks the INT8 flag; and for a DLA
  build with no FP16/INT8 flag, on 11.0-11.2, or when a layer cannot run on the DLA (dynamic
  profile, Erf, normalization, FP32-pinned, Q/DQ below 10) and GPU fallback is off.  With fallback
  ``trt.dla_layers`` counts what the DLA took; ``Config.can_run_on_DLA`` answers per layer.
* execution is asynchronous over ``fake_cudart``: ``execute_async_v3`` checks that every tensor
  is bound to live device memory large enough for the set input shape, then queues the work on
  the stream; nothing happens before ``cudaStreamSynchronize``.
"""
from __future__ import annotations

import enum
import types
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import onnx

from tests.runtime.backends.trt.fake_dla import _dla_capable, _dynamic_profile
from tests.runtime.backends.trt.fake_trt_enums import (_FLAGS_10, _FLAGS_11, _FLAGS_85, _FLAGS_86, _NET_8,
                                                      _NET_10, _NET_11)

_LAYERS = ("CONVOLUTION ACTIVATION POOLING SCALE SOFTMAX CONCATENATION ELEMENTWISE UNARY SHUFFLE "
           "REDUCE CONSTANT MATRIX_MULTIPLY GATHER SHAPE IDENTITY QUANTIZE DEQUANTIZE")
_OPS = {"Gemm": "MATRIX_MULTIPLY", "MatMul": "MATRIX_MULTIPLY", "Flatten": "SHUFFLE",
        "Reshape": "SHUFFLE", "Transpose": "SHUFFLE", "DequantizeLinear": "DEQUANTIZE",
        "QuantizeLinear": "QUANTIZE", "ReduceMean": "REDUCE", "ReduceProd": "REDUCE",
        "ReduceSum": "REDUCE", "Softmax": "SOFTMAX", "LayerNormalization": "NORMALIZATION",
        "Shape": "SHAPE", "Gather": "GATHER", "Constant": "CONSTANT", "Sqrt": "UNARY",
        "Erf": "UNARY", "Exp": "UNARY"}
_INT_ONNX = {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.INT8, onnx.TensorProto.UINT8}


def _v(version: str) -> tuple:
    return tuple(int(p) for p in version.split(".")[:2])


class _Numpy124:
    """numpy as pip installs it for Python 3.8 (1.24.x): ``np.bool`` is gone."""

    def __getattr__(self, name: str) -> Any:
        if name == "bool":
            raise AttributeError("module 'numpy' has no attribute 'bool'")
        return getattr(np, name)


def _enums(trt: Any, version: str) -> None:
    v = _v(version)
    flags = _FLAGS_85 if v < (8, 6) else _FLAGS_86 if v < (10, 0) else _FLAGS_10 if v < (11, 0) else _FLAGS_11
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", flags)
    net = _NET_8 if v < (10, 0) else _NET_10 if v < (11, 0) else _NET_11
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", net)
    types_ = "FLOAT HALF INT8 INT32 BOOL UINT8" + (" FP8" if v >= (8, 6) else "") + \
        (" BF16 INT64 INT4" if v >= (10, 0) else "")
    trt.DataType = enum.IntEnum("DataType", {n: i for i, n in enumerate(types_.split())})
    layers = _LAYERS + (" NORMALIZATION" if v >= (8, 6) else "") + (" CAST" if v >= (10, 0) else "")
    trt.LayerType = enum.IntEnum("LayerType", layers)
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", "WORKSPACE DLA_MANAGED_SRAM")
    trt.DeviceType = enum.IntEnum("DeviceType", {"GPU": 0, "DLA": 1})
    trt.TensorIOMode = enum.IntEnum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})
    trt.float32, trt.float16, trt.int8 = trt.DataType.FLOAT, trt.DataType.HALF, trt.DataType.INT8
    trt.int32, trt.bool, trt.uint8 = trt.DataType.INT32, trt.DataType.BOOL, trt.DataType.UINT8


def _nptype(trt: Any, version: str) -> Callable[[Any], Any]:
    def nptype(trt_type: Any) -> Any:
        npm = _Numpy124() if _v(version) < (8, 6) else np
        mapping = {trt.float32: npm.float32, trt.float16: npm.float16, trt.int8: npm.int8,
                   trt.int32: npm.int32, trt.bool: npm.bool if _v(version) < (8, 6) else np.bool_,
                   trt.uint8: npm.uint8}
        return mapping[trt_type]
    return nptype


class Tensor:
    def __init__(self, name: str, dtype: Any, shape: tuple = (-1,)) -> None:
        self.name, self.dtype, self.shape = name, dtype, shape


class Layer:
    """A network layer; TensorRT 11 layers have no ``precision``."""

    def __init__(self, trt: Any, name: str, ltype: Any, inputs: List[Tensor], outputs: List[Tensor]) -> None:
        self.trt, self.name, self.type = trt, name, ltype
        self._inputs, self._outputs, self._precision, self.out_types = inputs, outputs, None, {}
        self.num_inputs, self.num_outputs = len(inputs), len(outputs)

    def get_input(self, i: int) -> Tensor:
        return self._inputs[i]

    def get_output(self, j: int) -> Tensor:
        return self._outputs[j]

    @property
    def precision(self) -> Any:
        if _v(self.trt.__version__) >= (11, 0):
            raise AttributeError("'tensorrt.ILayer' object has no attribute 'precision'")
        return self._precision

    @precision.setter
    def precision(self, value: Any) -> None:
        if _v(self.trt.__version__) >= (11, 0):
            raise AttributeError("'tensorrt.ILayer' object has no attribute 'precision'")
        self._precision = value

    def set_output_type(self, j: int, dtype: Any) -> None:
        self.out_types[j] = dtype


class Network:
    def __init__(self, trt: Any, flags: int) -> None:
        self.trt, self.flags, self.layers, self.inputs = trt, flags, [], []
        trt.calls.append(("create_network", flags))

    num_layers = property(lambda self: len(self.layers))
    num_inputs = property(lambda self: len(self.inputs))

    def get_layer(self, i: int) -> Layer:
        return self.layers[i]

    def get_input(self, i: int) -> Tensor:
        return self.inputs[i]


def _int_type(trt: Any) -> Any:
    return trt.DataType.INT64 if _v(trt.__version__) >= (10, 0) else trt.int32


def _node_dtype(trt: Any, node: Any, is_int: Dict[str, bool]) -> bool:
    """True when the node's outputs are integer tensors."""
    if node.op_type == "Shape":
        return True
    if node.op_type == "Cast":
        return next(a.i for a in node.attribute if a.name == "to") in _INT_ONNX
    if node.op_type == "DequantizeLinear":
        return False
    return bool(node.input) and is_int.get(node.input[0], False)


def populate(trt: Any, network: Network, model: Any) -> None:
    """Layers of ``network`` from the ONNX graph's nodes, with float/int tensors as TensorRT sees them."""
    g = model.graph
    is_int = {i.name: i.data_type in _INT_ONNX for i in g.initializer}
    for inp in g.input:
        dims = tuple(d.dim_value if d.dim_value else -1 for d in inp.type.tensor_type.shape.dim)
        network.inputs.append(Tensor(inp.name, trt.float32, dims))
        is_int[inp.name] = False
    for k, node in enumerate(g.node):
        out_int = _node_dtype(trt, node, is_int)
        kind = _OPS.get(node.op_type, "CAST" if node.op_type == "Cast" else "ELEMENTWISE")
        kind = kind if kind in trt.LayerType.__members__ else "IDENTITY"
        ins = [Tensor(n, _int_type(trt) if is_int.get(n) else trt.float32) for n in node.input]
        outs = [Tensor(n, _int_type(trt) if out_int else trt.float32) for n in node.output]
        for n in node.output:
            is_int[n] = out_int
        network.layers.append(Layer(trt, node.name or f"{node.op_type}_{k}", trt.LayerType[kind], ins, outs))


class Parser:
    def __init__(self, trt: Any, network: Network, logger: Any) -> None:
        self.trt, self.network, self.errors = trt, network, []

    num_errors = property(lambda self: len(self.errors))

    def get_error(self, i: int) -> str:
        return self.errors[i]

    def parse_from_file(self, path: str) -> bool:
        with open(path, "rb") as fh:
            return self.parse(fh.read(), path)

    def parse(self, data: bytes, path: str = "") -> bool:
        trt = self.trt
        trt.calls.append(("parse", path.rsplit("/", 1)[-1]))
        model = onnx.load_model_from_string(data)
        if _v(trt.__version__) < (10, 0) and not self.network.flags & 1:
            self.errors.append("Network must have the explicit batch flag set to parse ONNX models")
            return False
        if _v(trt.__version__) < (8, 6) and any(n.op_type == "LayerNormalization" for n in model.graph.node):
            self.errors.append("No importer registered for op: LayerNormalization. Attempting to "
                               "import as plugin. ... Plugin not found, are the plugin name, "
                               "version, and namespace correct?")
            return False
        populate(trt, self.network, model)
        return True


class Config:
    def __init__(self, trt: Any) -> None:
        self.trt, self.flags, self.default_device_type, self.DLA_core = trt, set(), trt.DeviceType.GPU, -1
        self.profiles: List[Any] = []

    def set_memory_pool_limit(self, pool: Any, size: int) -> None:
        self.trt.calls.append(("pool", pool.name, size))

    def set_flag(self, flag: Any) -> None:
        self.flags.add(flag.name)
        self.trt.calls.append(("set_flag", flag.name))

    def clear_flag(self, flag: Any) -> None:
        self.flags.discard(flag.name)
        self.trt.calls.append(("clear_flag", flag.name))

    def can_run_on_DLA(self, layer: Layer) -> bool:
        return self.default_device_type == self.trt.DeviceType.DLA and _dla_capable(self.trt, self, layer)

    def add_optimization_profile(self, profile: Any) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, data: bytes) -> Any:
        self.trt.calls.append(("timing_cache_in", bytes(data)))
        return types.SimpleNamespace(serialize=lambda: b"CACHE")

    def set_timing_cache(self, cache: Any, ignore_mismatch: bool) -> bool:
        return True

    def get_timing_cache(self) -> Any:
        return types.SimpleNamespace(serialize=lambda: b"CACHE")


class Profile:
    def __init__(self, trt: Any) -> None:
        self.trt, self.shapes = trt, {}

    def set_shape(self, name: str, mn: tuple, opt: tuple, mx: tuple) -> None:
        self.shapes[name] = (tuple(mn), tuple(opt), tuple(mx))
        self.trt.calls.append(("profile", name, tuple(mn), tuple(opt), tuple(mx)))


def _strongly_typed(trt: Any, network: Network) -> bool:
    v = _v(trt.__version__)
    return v >= (11, 0) or (v >= (10, 0) and bool(network.flags & (1 << 1)))


def _build_error(trt: Any, network: Network, config: Config) -> Optional[str]:
    """What the real builder would reject (None: it builds); sets ``trt.dla_layers``."""
    constrained = config.flags & {"OBEY_PRECISION_CONSTRAINTS", "STRICT_TYPES"}
    for layer in network.layers:
        tensors = [layer.get_output(j) for j in range(layer.num_outputs)]
        if constrained and layer._precision == trt.float32 and any(t.dtype != trt.float32 for t in tensors):
            return f"{layer.name}: no implementation obeys the requested constraints (float on an integer layer)"
    qdq = [l for l in network.layers if l.type.name in ("QUANTIZE", "DEQUANTIZE")]
    if qdq and "INT8" not in config.flags and not _strongly_typed(trt, network):
        # weakly typed (< 11): Q/DQ needs the INT8 flag; nvinfer without int8-calib-file sets FP16
        # only (facts: "int8 is not configured in the builder"; NVIDIA/TensorRT#2348)
        return f"{qdq[0].name}: int8 is not configured in the builder (Q/DQ network without the INT8 flag)"
    trt.dla_layers = 0
    if config.default_device_type == trt.DeviceType.DLA:
        v = _v(trt.__version__)
        if (11, 0) <= v < (11, 3):
            return "DLA is not supported in TensorRT 11.0-11.2"
        if v < (11, 0) and not config.flags & {"FP16", "INT8"}:
            return "DLA supports only FP16 and INT8 precision"
        on_dla = [l for l in network.layers if config.can_run_on_DLA(l)]
        if len(on_dla) < len(network.layers) and "GPU_FALLBACK" not in config.flags:
            off = next(l for l in network.layers if l not in on_dla)
            why = "DLA does not support dynamic dimensions" if _dynamic_profile(config) else "not a DLA layer"
            return f"{off.name} cannot run on DLA ({why}) and GPU fallback is off"
        trt.dla_layers = len(on_dla)
    return None


class Builder:
    def __init__(self, trt: Any, logger: Any) -> None:
        self.trt, self.num_DLA_cores = trt, trt.num_dla

    def create_network(self, flags: int = 0) -> Network:
        return Network(self.trt, flags)

    def create_builder_config(self) -> Config:
        self.trt.config = Config(self.trt)
        return self.trt.config

    def create_optimization_profile(self) -> Profile:
        return Profile(self.trt)

    def build_serialized_network(self, network: Network, config: Config) -> Optional[bytes]:
        trt = self.trt
        trt.calls.append(("pinned", [l.name for l in network.layers if l._precision == trt.float32]))
        error = _build_error(trt, network, config)
        if error:
            trt.calls.append(("build_error", error))
            return None
        return b"SERIALIZED-" + trt.__version__.encode()


class Context:
    """Execution context: name-based I/O, asynchronous execute over the fake CUDA runtime."""

    def __init__(self, engine: "Engine") -> None:
        self.engine, self.addresses, self.shape, self.calls = engine, {}, None, []

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.calls.append("set_tensor_address")
        self.addresses[name] = int(address)
        return True

    def set_input_shape(self, name: str, shape: tuple) -> bool:
        self.calls.append("set_input_shape")
        lo, _, hi = self.engine.profile
        if name != self.engine.input or not lo[0] <= shape[0] <= hi[0] or tuple(shape[1:]) != tuple(hi[1:]):
            return False
        self.shape = tuple(shape)
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        self.calls.append("execute_async_v3")
        eng, rt = self.engine, self.engine.trt.cudart
        if self.shape is None or set(self.addresses) != {eng.input, eng.output}:
            return False  # TensorRT logs "not all input shapes / addresses are specified"
        n = self.shape[0]
        nin, nout = int(np.prod(self.shape)) * 4, n * eng.classes * 4
        try:
            x_mem = rt.device_view(self.addresses[eng.input], nin)
            y_mem = rt.device_view(self.addresses[eng.output], nout)
        except ValueError:
            return False

        def work() -> None:
            x = np.frombuffer(bytes(x_mem), np.float32).reshape(self.shape)
            y_mem[:] = np.ascontiguousarray(eng.compute(x), np.float32).tobytes()
        eng.batches.append(n)
        return rt.enqueue(stream_handle, work)


class Engine:
    def __init__(self, trt: Any, compute: Callable[[np.ndarray], np.ndarray], sample: tuple,
                 classes: int, max_batch: int, min_batch: int = 1) -> None:
        self.trt, self.compute, self.classes, self.batches = trt, compute, classes, []
        self.input, self.output = "input", "logits"
        # a DLA engine's profile is static (min = opt = max): any other batch is rejected
        self.profile = ((min_batch,) + sample, (min_batch,) + sample, (max_batch,) + sample)
        self.num_io_tensors = 2

    def get_tensor_name(self, i: int) -> str:
        return [self.input, self.output][i]

    def get_tensor_mode(self, name: str) -> Any:
        return self.trt.TensorIOMode.INPUT if name == self.input else self.trt.TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name: str) -> Any:
        return self.trt.float32

    def get_tensor_shape(self, name: str) -> tuple:
        return (-1,) + self.profile[0][1:] if name == self.input else (-1, self.classes)

    def get_tensor_profile_shape(self, name: str, index: int) -> List[tuple]:
        return list(self.profile)

    def create_execution_context(self) -> Context:
        self.context = Context(self)
        return self.context


class Runtime:
    def __init__(self, trt: Any, logger: Any) -> None:
        self.trt, self.DLA_core = trt, -1

    def deserialize_cuda_engine(self, plan: bytes) -> Optional[Engine]:
        self.trt.calls.append(("deserialize", bytes(plan), self.DLA_core))
        self.trt.engine = self.trt.engine_factory(self.trt) if self.trt.engine_factory else None
        return self.trt.engine


def make_trt(version: str = "10.3.0", cudart: Any = None, num_dla: int = 0,
             engine_factory: Optional[Callable[[Any], Engine]] = None) -> Any:
    """A ``tensorrt`` module of ``version``; ``trt.calls`` records what was asked of it."""
    trt = types.SimpleNamespace(__version__=version, calls=[], cudart=cudart, num_dla=num_dla,
                                dla_layers=0, engine_factory=engine_factory, config=None, engine=None)
    _enums(trt, version)
    trt.nptype = _nptype(trt, version)
    trt.Logger = type("Logger", (), {"WARNING": 2, "ERROR": 1, "__init__": lambda self, level=2: None})
    trt.Builder = lambda logger: Builder(trt, logger)
    trt.OnnxParser = lambda network, logger: Parser(trt, network, logger)
    trt.Runtime = lambda logger: Runtime(trt, logger)
    return trt
