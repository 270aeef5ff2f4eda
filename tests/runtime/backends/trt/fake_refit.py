"""The fake TensorRT's refitter and the plans it can take: built from an ONNX model and run by ONNX
Runtime, so a refit that supplies wrong or too few weights shows up in the golden gate.

Rules, each from NVIDIA's documentation:
- Weights are named after the ONNX initializers: "the ONNX parser uses [setWeightsName] to associate
  the weights with the names used in the ONNX model" (TensorRT guide, "Refitting an Engine").
  Constant-layer weights are refittable too (``WeightsRole.CONSTANT``, Python API ``WeightsRole``).
- Q/DQ scales are not refittable weights: "When TensorRT builds an engine, it quantizes high-precision
  weights using the IQuantizeLayer scale ... The quantized weights are stored in the engine plan"
  (guide, "Explicit Quantization"); the fake lists neither scales nor zero points.
- An engine built without ``BuilderFlag.REFIT`` has no refittable weights (guide: "the option to do
  so must be specified when building").
- ``set_named_weights`` "returns false if something goes wrong, such as a wrong weights name or a
  change in the weights count" (guide), or a type other than the prototype's (``IRefitter::
  setNamedWeights``, NvInferRuntime.h: "type of the weights is inconsistent").
- "If you change some weights, you might have to supply some other weights, too" (guide): the fake
  couples a Gemm's B and C; ``get_missing_weights`` lists the partner until it is set.
- ``refit_cuda_engine`` fails while weights are missing (Python API ``Refitter.refit_cuda_engine``:
  "Failure occurs if get_missing() != 0 before the call").
- TensorRT 11.3: "Enabling BuilderFlag::kREFIT may produce incorrect numerical output ... even when
  no refit is performed. A GEMM bias can be dropped and treated as zero" (11.3 guide, Important):
  a fake 11.3 engine built with REFIT computes its Gemm layers without bias.
"""
from __future__ import annotations

import hashlib
from typing import Any, Dict, Optional

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from tests.runtime.backends.trt.fake_tensorrt import Engine, make_trt

SCALE_OPS = ("QuantizeLinear", "DequantizeLinear")


class Weights:
    """``trt.Weights`` over a numpy array (kept by reference, as TensorRT does)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.size = int(array.size)


def _refittable(model: onnx.ModelProto) -> set:
    """Initializer names TensorRT would list: every float/int8 initializer but Q/DQ scales and zero points."""
    scales = {i for n in model.graph.node if n.op_type in SCALE_OPS for i in n.input[1:]}
    kinds = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.INT8)
    return {t.name for t in model.graph.initializer if t.name not in scales and t.data_type in kinds}


def _couples(model: onnx.ModelProto) -> Dict[str, str]:
    out = {}
    for n in model.graph.node:
        if n.op_type == "Gemm" and len(n.input) == 3:
            out[n.input[1]], out[n.input[2]] = n.input[2], n.input[1]
    return out


def _drop_gemm_bias(model: onnx.ModelProto) -> bytes:
    """The 11.3 REFIT defect: every Gemm computes as if its bias were zero."""
    inits = {t.name: t for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Gemm" and len(n.input) == 3 and n.input[2] in inits:
            t = inits[n.input[2]]
            t.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(t)), t.name))
    return model.SerializeToString()


class RefitEngine(Engine):
    """A fake engine that runs its (possibly refitted) ONNX model with ONNX Runtime."""

    def __init__(self, trt: Any, model: bytes, refit: bool, max_batch: int) -> None:
        self.model, self.refit = onnx.load_model_from_string(model), refit
        dims = [d.dim_value for d in self.model.graph.input[0].type.tensor_type.shape.dim]
        classes = self.model.graph.output[0].type.tensor_type.shape.dim[-1].dim_value
        super().__init__(trt, self._compute, tuple(dims[1:]), classes, max_batch)
        self._session()

    def _session(self) -> None:
        run = onnx.ModelProto()
        run.CopyFrom(self.model)
        data = _drop_gemm_bias(run) if self.refit and self.trt.__version__.startswith("11.3") \
            else run.SerializeToString()
        self.session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])

    def _compute(self, x: np.ndarray) -> np.ndarray:
        name = self.session.get_inputs()[0].name
        return self.session.run(None, {name: x.astype(np.float32)})[0]

    def serialize(self) -> bytes:
        return register(self.trt, self.model.SerializeToString(), self.refit, self.profile[2][0])


class Refitter:
    def __init__(self, trt: Any, engine: RefitEngine) -> None:
        self.trt, self.engine, self.given = trt, engine, {}
        self.names = _refittable(engine.model) if engine.refit else set()
        self.couples = _couples(engine.model)
        trt.calls.append(("refitter",))

    def get_all_weights(self) -> list:
        return sorted(self.names)

    def set_named_weights(self, name: str, weights: Weights) -> bool:
        self.trt.calls.append(("set_named_weights", name))
        init = next((t for t in self.engine.model.graph.initializer if t.name == name), None)
        if name not in self.names or init is None:
            return False
        old = numpy_helper.to_array(init)
        if weights.array.size != old.size or weights.array.dtype != old.dtype:
            return False
        self.given[name] = weights.array.reshape(old.shape)
        return True

    def get_missing_weights(self) -> list:
        return sorted({self.couples[n] for n in self.given if n in self.couples} - set(self.given))

    def refit_cuda_engine(self) -> bool:
        if self.get_missing_weights():
            return False
        for t in self.engine.model.graph.initializer:
            if t.name in self.given:
                t.CopyFrom(numpy_helper.from_array(self.given[t.name], t.name))
        self.engine._session()
        self.trt.calls.append(("refit", sorted(self.given)))
        return True


def register(trt: Any, model: bytes, refit: bool, max_batch: int) -> bytes:
    """A plan's bytes for (model, refit flag), remembered so the fake runtime can deserialise it."""
    blob = b"PLAN-" + hashlib.sha256(model + bytes([refit])).hexdigest()[:16].encode()
    trt.plans[blob] = (model, refit, max_batch)
    return blob


def _factory(trt: Any) -> Optional[RefitEngine]:
    blob = next(c[1] for c in reversed(trt.calls) if c[0] == "deserialize")
    entry = trt.plans.get(blob)
    return None if entry is None else RefitEngine(trt, *entry)


def make_refit_trt(version: str, cudart: Any) -> Any:
    """A fake ``tensorrt`` of ``version`` whose builds are real models and whose engines refit."""
    trt = make_trt(version, cudart=cudart, engine_factory=_factory)
    trt.plans, trt.Weights = {}, Weights
    trt.Refitter = lambda engine, logger: Refitter(trt, engine)
    parser, builder = trt.OnnxParser, trt.Builder

    def remembering_parser(network: Any, logger: Any) -> Any:
        p = parser(network, logger)
        parse = p.parse
        p.parse = lambda data, path="": (setattr(trt, "parsed", bytes(data)), parse(data, path))[1]
        return p

    def remembering_builder(logger: Any) -> Any:
        b = builder(logger)
        build = b.build_serialized_network

        def built(network: Any, config: Any) -> Optional[bytes]:
            if build(network, config) is None:
                return None
            return register(trt, trt.parsed, "REFIT" in config.flags, config.profiles[0].shapes["input"][2][0])
        b.build_serialized_network = built
        return b

    trt.OnnxParser, trt.Builder = remembering_parser, remembering_builder
    return trt
