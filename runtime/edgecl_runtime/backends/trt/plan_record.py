"""TensorRT plans written untouched, with their compatibility record in a sidecar JSON file.

``edgecl-rt build`` writes ``model.<precision>.plan`` (exactly the bytes TensorRT serialised, so
``trtexec --loadEngine``, Triton's ``tensorrt_plan``, DeepStream's ``model-engine-file`` and C++
``deserializeCudaEngine`` load it) and ``model.<precision>.plan.json`` beside it.  A plan only
deserialises on the TensorRT version and GPU it was built for; handing it another one crashes or
fails opaquely deep inside TensorRT, so the runtime reads the sidecar first and refuses early.

A plan without its sidecar is treated as foreign (built by another tool, or a leftover): the
runtime cannot tell what it was built for, so it asks for a rebuild.  The sidecar also records
the plan's sha256: a plan replaced under an old record is refused too.

Record keys: record_version, tensorrt, gpu, compute_capability, device_memory_gib, module,
precision, onnx_sha256, onnx_file, plan_sha256, max_batch, opt_batch, input_shapes, dla_core,
gpu_fallback, dla_layers, layers, created, device_seal.  Every Orin module reports GPU "Orin" and
SM 8.7, so the device memory and the module name (``/proc/device-tree/model``) tell an Orin NX
plan from an AGX Orin one.  The record is only trusted when sealed by this device (``plan_store``).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from ...atomic_io import write_bytes_atomic, write_json_atomic
from ...errors import EngineError
from ...strict_json import loads_finite

RECORD_VERSION = 2
SIDECAR_SUFFIX = ".json"
LEGACY_MAGIC = b"EDGECLRT"  # edgecl-rt <= 0.1 prepended a header: such files are not plans
REQUIRED = ("record_version", "tensorrt", "gpu", "compute_capability", "precision",
            "onnx_sha256", "plan_sha256")
REBUILD = "rebuild it on this device with `edgecl-rt build BUNDLE`"
Record = Dict[str, Any]


def sidecar_path(plan: "str | os.PathLike[str]") -> Path:
    """``model.fp16.plan`` -> ``model.fp16.plan.json``."""
    p = Path(plan)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def write_plan(path: "str | os.PathLike[str]", meta: Record, plan: bytes,
               sealer: Optional[Callable[[Record], Record]] = None) -> Path:
    """Write the plan untouched, then its record (passed through ``sealer``); return the plan's path.

    The old record goes first and the new one last, so a reader never pairs a record with a
    plan it does not describe; if the record cannot be written the plan is removed again.
    """
    plan_path, record = Path(path), sidecar_path(path)
    full = {"record_version": RECORD_VERSION, **meta,
            "plan_sha256": hashlib.sha256(plan).hexdigest()}
    missing = [k for k in REQUIRED if k not in full]
    if missing:
        raise ValueError(f"plan record lacks {', '.join(missing)}")
    if sealer is not None:
        full = sealer(full)
    record.unlink(missing_ok=True)
    write_bytes_atomic(plan_path, bytes(plan))
    try:
        write_json_atomic(record, full)
    except BaseException:
        plan_path.unlink(missing_ok=True)
        raise
    return plan_path


def _foreign(plan: Path) -> str:
    """Why a plan without a record is refused (a legacy header file gets its own words)."""
    try:
        with open(plan, "rb") as fh:
            legacy = fh.read(len(LEGACY_MAGIC)) == LEGACY_MAGIC
    except OSError:
        legacy = False
    what = ("an engine in edgecl-rt's old header format" if legacy
            else f"a foreign plan: it has no compatibility record {sidecar_path(plan).name}")
    return f"{plan} is {what}; {REBUILD}"


def read_record(plan: "str | os.PathLike[str]") -> Record:
    """The sidecar record of ``plan``; EngineError (one line, says to rebuild) when unusable."""
    plan_path, path = Path(plan), sidecar_path(plan)
    if not plan_path.is_file():
        raise EngineError(f"no TensorRT plan {plan_path}; {REBUILD}")
    if not path.is_file():
        raise EngineError(_foreign(plan_path))
    try:
        meta = loads_finite(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EngineError(f"cannot read the plan record {path} ({type(exc).__name__}); {REBUILD}")
    if not isinstance(meta, dict) or any(k not in meta for k in REQUIRED):
        raise EngineError(f"plan record {path} lacks required fields; {REBUILD}")
    if not isinstance(meta["record_version"], int) or meta["record_version"] > RECORD_VERSION:
        raise EngineError(f"plan record {path} has version {meta['record_version']!r}, newer than "
                          f"this runtime reads ({RECORD_VERSION}); upgrade edgecl-rt or {REBUILD}")
    return meta


def read_plan(plan: "str | os.PathLike[str]") -> Tuple[Record, bytes]:
    """(record, plan bytes); refuses a plan that is not the one its record describes."""
    meta = read_record(plan)
    try:
        blob = Path(plan).read_bytes()
    except OSError as exc:
        raise EngineError(f"cannot read TensorRT plan {plan} ({exc.strerror}); {REBUILD}")
    if hashlib.sha256(blob).hexdigest() != meta["plan_sha256"]:
        raise EngineError(f"{plan} is not the plan its record {sidecar_path(plan).name} describes "
                          f"(sha256 differs); {REBUILD}")
    return meta, blob


def _device_words(gpu: Any, cc: Any, memory: Any, module: Any) -> str:
    extra = ", ".join(str(x) for x in (module, f"{memory} GiB" if memory else "") if x)
    return f"{gpu} (sm {cc}{', ' + extra if extra else ''})"


def _compatibility_problems(meta: Record, tensorrt_version: str, device: Tuple[Any, ...],
                           onnx_sha256: Optional[str] = None) -> list:
    """Why the plan ``meta`` describes cannot run here (empty list = compatible).

    ``device`` is (GPU name, SM[, memory GiB, module name]).  Plans are tied to the exact
    TensorRT version and to the device: GPU name and SM, and where both sides know them the
    memory and module (every Orin module says "Orin", sm 8.7).  The ONNX hash catches a plan
    left over from a previous task's model.
    """
    gpu, cc, memory, module = (tuple(device) + (0, ""))[:4]
    problems = []
    if str(meta["tensorrt"]) != str(tensorrt_version):
        problems.append(f"built with TensorRT {meta['tensorrt']}, this device has {tensorrt_version}")
    mem_r, mod_r = meta.get("device_memory_gib") or 0, meta.get("module") or ""
    if (str(meta["compute_capability"]) != str(cc) or str(meta["gpu"]) != str(gpu)
            or (memory and mem_r and int(mem_r) != int(memory)) or (module and mod_r and mod_r != module)):
        problems.append(f"built on {_device_words(meta['gpu'], meta['compute_capability'], mem_r, mod_r)}, "
                        f"this device is {_device_words(gpu, cc, memory, module)}")
    if onnx_sha256 is not None and str(meta["onnx_sha256"]) != str(onnx_sha256):
        problems.append("built from a different ONNX model than this bundle's")
    return problems


def check_compatible(meta: Record, tensorrt_version: str, device: Tuple[Any, ...],
                     onnx_sha256: Optional[str] = None, source: str = "plan") -> None:
    """Raise EngineError (one line, says to rebuild) when the plan cannot run here."""
    problems = _compatibility_problems(meta, tensorrt_version, device, onnx_sha256)
    if problems:
        raise EngineError(f"{source} cannot be used here: {'; '.join(problems)}; {REBUILD}")
