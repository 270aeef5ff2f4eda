"""TensorRT engine builder: one code path for TensorRT 8.5, 8.6, 10.x (and strongly typed 11+).

Every version-dependent DECISION is a pure function of (TensorRT version, precision, names)
so it is tested without TensorRT; ``build_engine`` only applies them.

Version rules
-------------
* ``EXPLICIT_BATCH`` network flag: required below 10, deprecated/ignored from 10 -> set only < 10.
* TensorRT >= 11 removed weak typing (FP16/INT8/OBEY_PRECISION_CONSTRAINTS builder flags):
  networks are STRONGLY_TYPED, so precision must come from the ONNX itself -> fp16 builds parse
  ``model.fp16.onnx``, int8 builds parse the Q/DQ ``model.int8.onnx``, no precision flags.
* Below 11 (weak typing): fp16 = FP32 ONNX + FP16 flag, with LayerNorm / Softmax / Reduce layers
  pinned to FP32 and the precision-constraint flag (``OBEY_PRECISION_CONSTRAINTS``; called
  ``STRICT_TYPES`` before 8.2) so the builder keeps them there: LayerNorm's variance and
  Softmax's exp-sum overflow or lose most digits in fp16.  int8 = Q/DQ ONNX + INT8 flag.
  Only layers computing in float are pinned: a Reduce or Div over shape integers (ViT exports
  hold some) pinned to float32 makes the precision-constrained build fail.
* fp32 clears TF32 (on by default on Ampere+/Orin), which would otherwise break the 1e-4 gate.
* TensorRT < 8.6 cannot parse LayerNormalization (opset 17): refused before parsing
  (``opset``).  DLA builds (static profile, version refusals, layers placed): ``dla``.
* Output: the untouched plan + its sidecar record (``plan_record``), sealed with the device key
  and kept in the device's plan store under the ONNX's sha256 (``plan_store``); ``out_path``
  (``--save-engine``) gets a copy for trtexec, DeepStream and Triton.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from ...atomic_io import write_bytes_atomic
from ...contract import TRT_PRECISIONS, base_precision
from ...errors import EngineError
from .plan_record import sidecar_path, write_plan
from .plan_store import seal, stored_plan_path
from .compat import import_tensorrt, version_tuple
from .dla import (DlaSettings, apply_dla, build_failure_hint, check_dla, check_dla_version,
                  count_dla_layers, static_batch)
from .dtypes import is_float
from .head_pad import DEFAULT_CAPACITY, pad_head
from .opset import check_parser_support
from .refit import refit_flag

DEFAULT_WORKSPACE_MB = 1024
INPUT_NAME = "input"
FP32_TYPES = frozenset({"NORMALIZATION", "SOFTMAX", "REDUCE"})
PINNABLE_TYPES = frozenset({"NORMALIZATION", "SOFTMAX", "REDUCE", "ELEMENTWISE", "UNARY",
                            "ACTIVATION", "SCALE"})
_NORM_NAME = re.compile(r"layer_?norm|normali[sz]ation|softmax|reduce"
                        r"|(^|[/._:])(fc_|pre_)?norm\d*($|[/._:])", re.IGNORECASE)


@dataclass(frozen=True)
class BuildPlan:
    """What to parse and which flags to set for one (TensorRT version, precision)."""

    precision: str
    onnx_precision: str
    network_flags: tuple[str, ...]
    builder_flags: tuple[str, ...]
    clear_flags: tuple[str, ...]
    pin_fp32: bool


@dataclass(frozen=True)
class BuildOptions:
    """How to build: profile batches, workspace, timing-cache folder, DLA target, plan store root,
    ``out_path``, a copy of the plan for other tools (``--save-engine``), and whether the engine
    may be refitted later (``refittable``, with the head padded to ``head_capacity`` classes)."""

    max_batch: int = 8
    opt_batch: int = 1
    workspace_mb: int = DEFAULT_WORKSPACE_MB
    cache_dir: Optional[Path] = None
    out_path: Optional[Path] = None
    dla: DlaSettings = DlaSettings()
    store: Optional[Path] = None
    refittable: bool = False
    head_capacity: int = DEFAULT_CAPACITY


def check_trt_precision(precision: str) -> None:
    """One-line EngineError for a precision TensorRT does not build (``int8cpu``), before TensorRT is touched."""
    prec = base_precision(precision)
    if prec not in TRT_PRECISIONS:
        raise EngineError(f"{prec} is not a TensorRT precision: its model ({prec}, for ONNX Runtime on CPU) "
                          "uses dynamic quantisation ops (DynamicQuantizeLinear, MatMulInteger) that TensorRT "
                          "does not build; use --int8 (the Q/DQ model.int8.onnx) for TensorRT, or run "
                          f"{prec} with --backend ort")


def precision_constraint_flag(available: Iterable[str]) -> str:
    """Name of the flag that makes the builder obey per-layer precisions on this version."""
    names = set(available)
    for name in ("OBEY_PRECISION_CONSTRAINTS", "STRICT_TYPES"):
        if name in names:
            return name
    raise EngineError("this TensorRT has neither OBEY_PRECISION_CONSTRAINTS nor STRICT_TYPES; "
                      "use a TensorRT between 8.5 and 10.x for fp16 builds")


def make_plan(trt_version: str, precision: str,
              builder_flag_names: Iterable[str] | None = None) -> BuildPlan:
    """Decide ONNX source and flags for ``precision`` on TensorRT ``trt_version``."""
    check_trt_precision(precision)
    prec = base_precision(precision)
    major = version_tuple(trt_version)[0]
    available = set(builder_flag_names) if builder_flag_names is not None else {
        "FP16", "INT8", "TF32", "OBEY_PRECISION_CONSTRAINTS"}
    strongly_typed = major >= 11
    net = ("EXPLICIT_BATCH",) if major < 10 else ("STRONGLY_TYPED",) if strongly_typed else ()
    clear = ("TF32",) if prec == "fp32" and "TF32" in available else ()
    if prec == "fp32" or strongly_typed:
        return BuildPlan(prec, prec, net, (), clear, False)
    if prec == "fp16":
        flags = ("FP16", precision_constraint_flag(available))
        return BuildPlan(prec, "fp32", net, flags, clear, True)
    return BuildPlan(prec, "int8", net, ("INT8",), clear, False)


def _layer_type_name(layer_type: Any) -> str:
    """``LayerType.REDUCE`` / ``"reduce"`` -> ``"REDUCE"``."""
    return str(getattr(layer_type, "name", layer_type)).split(".")[-1].upper()


def layers_to_pin(layers: Sequence[tuple[Any, ...]]) -> list[int]:
    """Indices of the (name, type[, _computes_in_float]) layers to force to FP32 in an fp16 build.

    A layer is pinned when its type is Normalization/Softmax/Reduce, or when it is an
    arithmetic layer whose name says it belongs to a norm (timm's ``norm1``, ``norm2``,
    ``norm``, ``fc_norm``; ONNX ``LayerNormalization``): before TensorRT 8.6 LayerNorm is
    decomposed into ReduceMean/Sub/Pow/Sqrt/Div, and all of them need FP32.
    Shape/constant/shuffle layers are never pinned, and neither is a layer whose tensors are
    not float (third item False): pinning integer shape arithmetic fails the build.
    """
    out = []
    for i, (name, ltype, *floats) in enumerate(layers):
        if floats and not floats[0]:
            continue
        t = _layer_type_name(ltype)
        if t in FP32_TYPES or (t in PINNABLE_TYPES and _NORM_NAME.search(name or "")):
            out.append(i)
    return out


def profile_shapes(input_shape: Sequence[int], max_batch: int, opt_batch: int = 1,
                   static: bool = False) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) shapes for the optimisation profile of an NCHW input.

    Batch is the only dynamic axis: min 1, opt ``opt_batch`` (kernels are tuned for it; edge
    devices mostly classify one frame at a time, hence 1), max ``max_batch``.  A static batch
    axis pins all three to it; so does ``static`` (a DLA build: no dynamic dimensions there), at
    ``max_batch``.
    """
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 4 or any(d <= 0 for d in shape[1:]):
        raise EngineError(f"input shape {list(shape)} must be [N, C, H, W] with fixed C, H, W")
    if max_batch < 1 or not 1 <= opt_batch <= max_batch:
        raise EngineError(f"need 1 <= opt batch ({opt_batch}) <= max batch ({max_batch})")
    rest = shape[1:]
    if shape[0] > 0:
        if max_batch > shape[0]:
            raise EngineError(f"the ONNX input has a fixed batch of {shape[0]}; "
                              f"--max-batch {max_batch} is impossible (re-export with dynamic batch)")
        return (shape[0],) + rest, (shape[0],) + rest, (shape[0],) + rest
    if static:
        return (max_batch,) + rest, (max_batch,) + rest, (max_batch,) + rest
    return (1,) + rest, (opt_batch,) + rest, (max_batch,) + rest


def network_flag_bits(trt: Any, names: Iterable[str]) -> int:
    """Bit mask for ``builder.create_network`` from NetworkDefinitionCreationFlag names."""
    bits = 0
    for name in names:
        bits |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    return bits


def timing_cache_path(cache_dir: str | Path, trt_version: str, gpu: str, cc: str) -> Path:
    """One timing cache per (TensorRT version, GPU): tactics timed once are reused by every task."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", gpu).strip("-").lower() or "gpu"
    return Path(cache_dir) / f"timing-trt{trt_version}-sm{cc.replace('.', '')}-{slug}.cache"


def plan_path(bundle_dir: str | Path, precision: str) -> Path:
    """Where ``edgecl-rt build`` writes the plan for ``precision``: ``model.<prec>.plan``."""
    return Path(bundle_dir) / f"model.{base_precision(precision)}.plan"


def _computes_in_float(layer: Any) -> bool:
    """True when every output (and every present input) of ``layer`` is a float tensor."""
    tensors = [layer.get_output(j) for j in range(layer.num_outputs)]
    tensors += [layer.get_input(j) for j in range(getattr(layer, "num_inputs", 0))]
    present = [t for t in tensors if t is not None]
    return bool(present) and all(is_float(t.dtype) for t in present)


def _pin_layers_fp32(trt: Any, network: Any) -> int:
    """Apply ``layers_to_pin`` to a parsed network; return how many layers were pinned."""
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    chosen = layers_to_pin([(layer.name, layer.type, _computes_in_float(layer)) for layer in layers])
    for i in chosen:
        layer = layers[i]
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)
    return len(chosen)


def _parse(trt: Any, network: Any, logger: Any, onnx_path: Path, data: bytes) -> None:
    """Parse the model's checked bytes (``onnx_path`` only names it): no second read by path."""
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(data, str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineError(f"TensorRT cannot parse {onnx_path.name}: "
                          f"{' | '.join(errors) or 'unknown error'}")


def _input_tensor(network: Any) -> Any:
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    for t in inputs:
        if t.name == INPUT_NAME:
            return t
    if not inputs:
        raise EngineError("the ONNX model has no input")
    return inputs[0]


def _timing_cache(config: Any, path: Path | None) -> Any:
    data = b""
    if path is not None and path.is_file():
        data = path.read_bytes()
    cache = config.create_timing_cache(data)
    config.set_timing_cache(cache, True)  # ignore_mismatch: a stale cache must not fail a build
    return cache


def _configure(trt: Any, builder: Any, plan: BuildPlan, workspace_mb: int, dla: DlaSettings) -> Any:
    """A builder config with the plan's flags, the workspace limit and the DLA target."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    for name in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    for name in plan.clear_flags:
        config.clear_flag(getattr(trt.BuilderFlag, name))
    apply_dla(trt, builder, config, dla)
    return config


def _add_profile(builder: Any, config: Any, network: Any, options: BuildOptions
                 ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    inp = _input_tensor(network)
    shapes = profile_shapes(tuple(inp.shape), options.max_batch, min(options.opt_batch, options.max_batch),
                            static_batch(options.dla))
    profile = builder.create_optimization_profile()
    profile.set_shape(inp.name, *shapes)
    config.add_optimization_profile(profile)
    return shapes


def _identity(identity: Optional[Callable[[], Sequence[Any]]]) -> Any:
    """This device's identity (GPU, SM, memory, module) from ``identity`` or cuda-python."""
    from .cuda_mem import DeviceIdentity, device_identity
    return DeviceIdentity(*(identity or device_identity)())


def build_engine(bundle: Any, precision: str, options: BuildOptions = BuildOptions(), *,
                 trt: Any = None, identity: Optional[Callable[[], Sequence[Any]]] = None,
                 log: Callable[[str], None] = lambda s: None) -> Path:
    """Build ``bundle``'s plan for ``precision``; keep it (with its sealed record) in the device's
    plan store, and a copy at ``options.out_path`` when given.

    Every refusal that needs no GPU work (DLA options and versions, an ONNX this TensorRT cannot
    parse) comes before the builder is created.  Returns ``options.out_path`` or the stored plan.
    """
    dla = options.dla
    check_dla(base_precision(precision), dla)
    trt = trt if trt is not None else import_tensorrt()
    device = _identity(identity)
    version = str(trt.__version__)
    check_dla_version(version_tuple(version), base_precision(precision), dla)
    plan = make_plan(version, precision, trt.BuilderFlag.__members__.keys())
    onnx_path = bundle.onnx_path(plan.onnx_precision)
    onnx_data = bundle.onnx_bytes(plan.onnx_precision)  # the bytes whose sha256 the manifest lists
    check_parser_support(version, onnx_data, onnx_path.name)
    target = f"DLA core {dla.core}" if dla.core is not None else f"{device.gpu} (sm {device.cc})"
    log(f"TensorRT {version} on {target}: {plan.precision} from {onnx_path.name}, "
        f"flags {', '.join(plan.builder_flags) or 'none'}")
    refit, parsed, classes = _refit_choice(trt, version, options, onnx_data, log)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flag_bits(trt, plan.network_flags))
    _parse(trt, network, logger, onnx_path, parsed)
    config = _configure(trt, builder, plan, options.workspace_mb, dla)
    if refit:
        config.set_flag(getattr(trt.BuilderFlag, refit))
    if plan.pin_fp32:
        log(f"pinned {_pin_layers_fp32(trt, network)} norm/softmax/reduce layers to FP32")
    shapes = _add_profile(builder, config, network, options)
    on_dla, layers = count_dla_layers(config, network) if dla.core is not None else (0, network.num_layers)
    if dla.core is not None:
        log(f"DLA core {dla.core} runs {on_dla} of {layers} layers (static batch {shapes[2][0]}); "
            f"{layers - on_dla} run on the GPU")
    cache_file = timing_cache_path(options.cache_dir, version, device.gpu, device.cc) if options.cache_dir else None
    _timing_cache(config, cache_file)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"TensorRT failed to build the {plan.precision} engine (see its log "
                          f"above); {build_failure_hint(dla)}")
    log(f"built in {time.perf_counter() - started:.1f} s")
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(cache_file, bytes(config.get_timing_cache().serialize()))
    sha = bundle.onnx_sha256(plan.onnx_precision)
    meta = {"tensorrt": version, "gpu": device.gpu, "compute_capability": device.cc,
            "device_memory_gib": device.memory_gib, "module": device.module,
            "precision": plan.precision, "onnx_sha256": sha,
            "onnx_file": onnx_path.name, "max_batch": shapes[2][0], "opt_batch": shapes[1][0],
            "input_shapes": {"min": list(shapes[0]), "opt": list(shapes[1]), "max": list(shapes[2])},
            **dla.record(), "dla_layers": on_dla, "layers": layers, "refittable": bool(refit),
            **({"head_capacity": options.head_capacity, "classes": classes} if refit else {}),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    blob = bytes(serialized)
    stored = stored_plan_path(sha, plan.precision, dla.core, options.store)
    write_plan(stored, meta, blob, sealer=lambda rec: seal(rec, options.store))
    if options.out_path is None:
        return stored
    return write_plan(options.out_path, meta, blob, sealer=lambda rec: seal(rec, options.store))


def _refit_choice(trt: Any, version: str, options: BuildOptions, onnx_data: bytes,
                  log: Callable[[str], None]) -> tuple[Optional[str], bytes, int]:
    """(refit flag or None, the bytes to parse, the head's class count) for ``options``."""
    if not options.refittable:
        return None, onnx_data, 0
    flag, why = refit_flag(version, trt.BuilderFlag.__members__.keys())
    if flag is None:
        log(f"--refittable: {why}; building an engine that updates rebuild instead of refitting")
        return None, onnx_data, 0
    parsed, classes = pad_head(onnx_data, options.head_capacity)
    log(f"refittable ({flag}): head padded from {classes} to {options.head_capacity} classes")
    return flag, parsed, classes


def remove_plan(path: str | Path) -> None:
    """Delete a plan and its sidecar (a plan that failed verification must not stay usable)."""
    Path(path).unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)
