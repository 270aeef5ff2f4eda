"""Refit a device's TensorRT engine with a new task's weights instead of building it again.

After an over-the-air update only K/V weights and the head change (and, in the Q/DQ INT8 file, some
scales), so an engine built with ``edgecl-rt build --refittable`` can take the new values through
TensorRT's refitter: seconds instead of the minutes a Jetson spends choosing tactics. Every
decision is a pure function tested against a fake TensorRT whose rules cite NVIDIA's pages:

* which flag a build sets (:func:`refit_flag`): ``REFIT`` on every supported version except
  TensorRT 11.3, where NVIDIA's refitting guide warns that ``kREFIT`` may drop a GEMM bias even
  without a refit, and ``kREFIT_IDENTICAL`` (the safe flag there) only refits the weights the
  engine was built with, useless for an update: 11.3 builds are not refittable, and updates rebuild;
* whether an engine can take an update (:func:`refit_refusal`): built refittable, by this TensorRT,
  from the base bundle's file; the update changed weight values only (same graph, same shapes,
  the head padded to the same capacity, :mod:`.head_pad`); every changed initializer is one the
  refitter lists (``get_all_weights``: the ONNX parser names weights after initializers);
* the refit itself (:func:`refit_plan`): ``set_named_weights`` for each changed weight (refused:
  a wrong name or count), then whatever ``get_missing_weights`` still asks for, from the same
  file, then ``refit_cuda_engine`` (fails while weights are missing).
Any refusal or failure is one line, and the caller builds a new engine instead; a refitted
engine is published only after the golden gate passed on it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ...errors import EngineError
from .compat import version_tuple
from .head_pad import _onnx, pad_head
from .plan_record import read_plan, write_plan
from .plan_store import check_seal, seal, stored_plan_path

REFIT_FLAG = "REFIT"
NO_REFIT = {(11, 3): "TensorRT 11.3's REFIT flag may drop a GEMM bias even without a refit (NVIDIA's "
                     "11.3 refitting guide, Known Issues) and REFIT_IDENTICAL cannot take new weights"}


def refit_flag(trt_version: str, flag_names: Sequence[str]) -> Tuple[Optional[str], str]:
    """(builder flag for a refittable engine, or None with the reason) on ``trt_version``."""
    why = NO_REFIT.get(version_tuple(trt_version)[:2])
    if why:
        return None, why
    if REFIT_FLAG not in set(flag_names):
        return None, f"TensorRT {trt_version} has no {REFIT_FLAG} builder flag"
    return REFIT_FLAG, ""


@dataclass(frozen=True)
class RefitCase:
    """What decides a refit: the engine's record, this device's TensorRT, the sha256 of the base
    bundle's file for the engine's precision, the weight diff of the padded files (changed names,
    and whether anything but weight values changed) and the refitter's own list (None: not asked)."""

    record: Mapping[str, Any]
    trt_version: str
    base_onnx_sha256: str
    changed: Tuple[str, ...]
    structure_same: bool
    refittable: Optional[FrozenSet[str]] = None


def refit_refusal(case: RefitCase) -> Optional[str]:
    """Why this engine cannot take the update by a refit (None: it can), in words for one line."""
    rec = case.record
    if not rec.get("refittable"):
        return "the engine was built without --refittable"
    if str(rec.get("tensorrt")) != str(case.trt_version):
        return f"the engine was built with TensorRT {rec.get('tensorrt')}, this device has {case.trt_version}"
    why = NO_REFIT.get(version_tuple(case.trt_version)[:2])
    if why:
        return why
    if rec.get("onnx_sha256") != case.base_onnx_sha256:
        return f"the engine was not built from the base bundle's {rec.get('onnx_file', 'model')}"
    if not case.structure_same:
        return "the update changes the model's graph or a weight's shape, not only weight values"
    if case.refittable is not None:
        fixed = [n for n in case.changed if n not in case.refittable]
        if fixed:
            return f"weight {fixed[0]!r} changed and this engine cannot refit it ({len(fixed)} such)"
    return None


def _frame(model: Any) -> bytes:
    """The graph without weight values, and the opsets: what must not change for a refit (model
    version and metadata, which name the task, may)."""
    graph = type(model.graph)()
    graph.CopyFrom(model.graph)
    for tensor in graph.initializer:
        tensor.raw_data = b""
    return graph.SerializeToString() + b"".join(o.SerializeToString() for o in model.opset_import)


def weight_diff(old: bytes, new: bytes) -> Tuple[Tuple[str, ...], bool]:
    """(initializers whose values differ, True when nothing else differs) between two padded files."""
    onnx = _onnx()
    a, b = onnx.load_model_from_string(old), onnx.load_model_from_string(new)
    before = {t.name: t.raw_data for t in a.graph.initializer}
    changed = tuple(t.name for t in b.graph.initializer if before.get(t.name) != t.raw_data)
    return changed, _frame(a) == _frame(b)


def _weights(data: bytes) -> Dict[str, np.ndarray]:
    onnx = _onnx()
    model = onnx.load_model_from_string(data)
    return {t.name: np.ascontiguousarray(onnx.numpy_helper.to_array(t)) for t in model.graph.initializer}


def _set(trt: Any, refitter: Any, name: str, arrays: Mapping[str, np.ndarray], kept: List[Any]) -> None:
    if name not in arrays:
        raise EngineError(f"the refitter asks for weight {name!r}, which the new model lacks")
    weights = trt.Weights(arrays[name])
    kept.append((arrays[name], weights))  # alive until refit_cuda_engine returns
    if not refitter.set_named_weights(name, weights):
        raise EngineError(f"the refitter refused weight {name!r} (name or size)")


def _open(trt: Any, plan: bytes) -> Tuple[Any, Any]:
    """(engine, refitter) of ``plan``, deserialised once for both the question and the refit."""
    logger = trt.Logger(trt.Logger.WARNING)
    engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
    if engine is None:
        raise EngineError("TensorRT could not deserialise the engine to refit")
    return engine, trt.Refitter(engine, logger)


def _refit(trt: Any, opened: Tuple[Any, Any], new_model: bytes, changed: Sequence[str],
           log: Callable[[str], None]) -> bytes:
    """The opened engine refitted with ``changed`` weights of ``new_model``, serialised."""
    engine, refitter = opened
    arrays, kept = _weights(new_model), []
    for name in changed:
        _set(trt, refitter, name, arrays, kept)
    extra = [n for n in refitter.get_missing_weights() if n not in changed]
    for name in extra:  # weights TensorRT combined with a changed one must be supplied too
        _set(trt, refitter, name, arrays, kept)
    if refitter.get_missing_weights():
        raise EngineError(f"the refitter still misses {list(refitter.get_missing_weights())[:3]}")
    if not refitter.refit_cuda_engine():
        raise EngineError("refit_cuda_engine failed (see TensorRT's log)")
    log(f"refitted {len(changed)} weights" + (f" (+{len(extra)} TensorRT asked for)" if extra else ""))
    return bytes(engine.serialize())


def refit_plan(trt: Any, plan: bytes, new_model: bytes, changed: Sequence[str],
               log: Callable[[str], None] = lambda s: None) -> bytes:
    """The plan ``plan`` refitted with ``changed`` weights of ``new_model`` (padded as at build)."""
    return _refit(trt, _open(trt, plan), new_model, changed, log)


@dataclass(frozen=True)
class RefitJob:
    """An engine to carry over an update: the plan this device built for the base bundle (``plan``),
    the base and the rebuilt bundles (read and checked), and the plan store root (None: default)."""

    plan: Any
    base: Any
    new: Any
    store: Any = None


def refit_for_update(job: RefitJob, trt: Any, log: Callable[[str], None] = lambda s: None
                     ) -> Tuple[Optional[Any], str]:
    """(path of the refitted plan, kept sealed in the plan store under the new file's sha256, or None,
    why not). Nothing is written unless the refit succeeded; the caller gates and may fall back."""
    from .build import make_plan  # build imports this module (refit_flag)

    record, blob = read_plan(job.plan)
    check_seal(record, str(job.plan), job.store)
    version = str(trt.__version__)
    onnx_precision = make_plan(version, str(record["precision"]), trt.BuilderFlag.__members__.keys()).onnx_precision
    case = RefitCase(record, version, job.base.onnx_sha256(onnx_precision), (), True)
    why = refit_refusal(case)
    if why:
        return None, why
    capacity = int(record.get("head_capacity") or 0)
    try:
        old, _ = pad_head(job.base.onnx_bytes(onnx_precision), capacity)
        new, classes = pad_head(job.new.onnx_bytes(onnx_precision), capacity)
    except EngineError as exc:
        return None, str(exc)
    changed, same = weight_diff(old, new)
    opened = _open(trt, blob)
    why = refit_refusal(RefitCase(record, version, case.base_onnx_sha256, changed, same,
                                  frozenset(opened[1].get_all_weights())))
    if why:
        return None, why
    try:
        refitted = _refit(trt, opened, new, changed, log)
    except EngineError as exc:
        return None, str(exc)
    sha = job.new.onnx_sha256(onnx_precision)
    meta = {k: v for k, v in record.items() if k not in ("plan_sha256", "device_seal", "record_version")}
    meta.update(onnx_sha256=sha, onnx_file=job.new.onnx_path(onnx_precision).name, classes=classes,
                refitted_from=record["plan_sha256"], created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    path = stored_plan_path(sha, str(record["precision"]), record.get("dla_core"), job.store)
    return write_plan(path, meta, refitted, sealer=lambda rec: seal(rec, job.store)), ""
