"""Three-level numerical gate: does a converted model still behave like the PyTorch original?

All maths is plain numpy so the trainer side (exporters) and the device side (``edgecl-rt verify``)
compute exactly the same verdict from the same arrays.

Levels
------
1. **Tensors** - on the golden inputs, ``max |out - ref|`` over every logit must be at most
   ``max_abs_diff``.  Bounds are absolute, in logit units, sized for classifier logits of
   magnitude O(1..10):

   * fp32 ``1e-4``: only summation-order differences (float32 eps 1.2e-7 times a few thousand
     accumulated terms) are allowed.
   * fp16 ``5e-2``: float16 keeps ~3 significant digits (eps 9.8e-4); a logit of 10 carries
     ~1e-2 of rounding after a dozen residual blocks, so 5e-2 leaves a factor ~5 of margin.
   * int8 ``1.0``: per-tensor 8-bit scales err by ~1-5 % of each activation's range; level 1
     only catches gross breakage here, levels 2 and 3 are the real guard.

2. **Top-1 agreement** - fraction of samples whose argmax matches the reference:
   fp32 1.0, fp16 >= 0.995, int8 >= 0.99.  Computed over the full labelled set when given
   (every seen task's test set), otherwise over the golden set.
3. **Accuracy** - ``|acc(out) - acc(ref)|`` in percentage points against the labels:
   at most 0.1 / 0.3 / 1.0.  Skipped when no labelled set is given (the device-side verify
   only has the golden set, so it checks levels 1 and 2).

Engine formats reuse their precision's thresholds (``trt_fp16`` -> ``fp16``).
"""
from __future__ import annotations

import copy
import math
from typing import Any, Mapping

import numpy as np

from ..contract import DEFAULT_THRESHOLDS, THRESHOLD_KEYS, base_precision


def merge_thresholds(overrides: Mapping[str, Mapping[str, float]] | None = None
                     ) -> dict[str, dict[str, float]]:
    """Return DEFAULT_THRESHOLDS with ``overrides`` ({precision: {key: value}}) applied.

    Unknown precisions or keys, and values that are not finite numbers, raise ValueError instead
    of being silently ignored, so a typo in a run config cannot loosen (or tighten) the gate
    unnoticed.
    """
    merged = copy.deepcopy(DEFAULT_THRESHOLDS)
    for fmt, values in (overrides or {}).items():
        prec = base_precision(fmt)
        if not isinstance(values, Mapping):
            raise ValueError(f"thresholds for {fmt!r} must be a mapping of {THRESHOLD_KEYS}")
        for key, value in values.items():
            if key not in THRESHOLD_KEYS:
                raise ValueError(f"unknown gate threshold {key!r} for {fmt!r}: "
                                 f"expected one of {', '.join(THRESHOLD_KEYS)}")
            merged[prec][key] = _finite(fmt, key, value)
    return merged


def _finite(fmt: str, key: str, value: Any) -> float:
    """A threshold as a finite float: NaN would make every comparison False (a gate that never fails)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError(f"gate threshold {fmt}.{key} must be a finite number, got {value!r}")
    return number


def _as_logits(name: str, arr: Any) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, K) logits, got shape {a.shape}")
    return a


def _check_pair(ref: np.ndarray, out: np.ndarray, what: str) -> None:
    if ref.shape != out.shape:
        raise ValueError(f"{what}: reference shape {ref.shape} != output shape {out.shape}")
    if ref.shape[0] == 0:
        raise ValueError(f"{what}: empty logits (0 samples)")


def tensor_check(ref_logits: Any, logits: Any) -> dict[str, float | bool]:
    """Level-1 statistics: max and mean |out - ref| and max |ref| (the logit scale).

    ``finite`` is False when the output or the reference holds NaN/Inf (a NaN difference would
    compare False with any bound); ``max_abs_diff`` is then +inf.
    """
    ref, out = _as_logits("ref_logits", ref_logits), _as_logits("logits", logits)
    _check_pair(ref, out, "tensor check")
    finite = bool(np.isfinite(out).all() and np.isfinite(ref).all())
    diff = np.abs(out - ref)
    return {
        "max_abs_diff": float(diff.max()) if finite else math.inf,
        "mean_abs_diff": float(diff.mean()) if finite else math.inf,
        "ref_scale": float(np.abs(ref).max()),
        "finite": finite,
    }


def top1_agreement(ref_logits: Any, logits: Any) -> float:
    """Fraction of rows where argmax(out) == argmax(ref)."""
    ref, out = _as_logits("ref_logits", ref_logits), _as_logits("logits", logits)
    _check_pair(ref, out, "top-1 agreement")
    return float(np.mean(ref.argmax(axis=1) == out.argmax(axis=1)))


def accuracy_pct(logits: Any, labels: Any) -> float:
    """Top-1 accuracy in percent."""
    out = _as_logits("logits", logits)
    lab = np.asarray(labels).reshape(-1)
    if lab.shape[0] != out.shape[0]:
        raise ValueError(f"labels have {lab.shape[0]} entries but logits have {out.shape[0]} rows")
    return float(100.0 * np.mean(out.argmax(axis=1) == lab))


def _json_float(x: float | None) -> float | None:
    """Non-finite numbers become None so the record stays strict JSON."""
    return None if x is None or not math.isfinite(x) else float(x)


def evaluate_gate(precision: str, golden_ref: Any, golden_out: Any,
                  ref_logits_all: Any = None, out_logits_all: Any = None, labels_all: Any = None,
                  thresholds: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Any]:
    """Run levels 1-3 and return the manifest's gate record.

    Keys: max_abs_diff, top1_agreement, accuracy, accuracy_delta_pp, passed, failed_levels
    (ints), levels_checked (ints), reason (one line, empty when passed).  Level 2 uses the full
    set when both ``*_logits_all`` are given, else the golden set; level 3 needs the full set
    plus ``labels_all`` and is skipped otherwise (accuracy fields are then None).
    """
    thr = merge_thresholds(None)[base_precision(precision)] if thresholds is None \
        else _pick(thresholds, precision)
    failed: list[int] = []
    reasons: list[str] = []
    checked = [1, 2]

    t = tensor_check(golden_ref, golden_out)
    if not t["finite"]:
        failed.append(1)
        reasons.append("level 1: output or reference contains NaN/Inf")
    elif not t["max_abs_diff"] <= thr["max_abs_diff"]:  # NaN-safe: a NaN fails
        failed.append(1)
        reasons.append(f"level 1: max |dlogit| {t['max_abs_diff']:.3g} > {thr['max_abs_diff']:.3g}")

    have_all = ref_logits_all is not None and out_logits_all is not None
    ref2, out2 = (ref_logits_all, out_logits_all) if have_all else (golden_ref, golden_out)
    agree = top1_agreement(ref2, out2)
    if not agree >= thr["top1_agreement"]:
        failed.append(2)
        reasons.append(f"level 2: top-1 agreement {agree:.4f} < {thr['top1_agreement']:.4f}")

    acc = delta = None
    if have_all and labels_all is not None:
        checked.append(3)
        acc = accuracy_pct(out_logits_all, labels_all)
        delta = acc - accuracy_pct(ref_logits_all, labels_all)
        if not abs(delta) <= thr["accuracy_delta_pp"]:
            failed.append(3)
            reasons.append(f"level 3: |accuracy delta| {abs(delta):.3f} pp > "
                           f"{thr['accuracy_delta_pp']:.3g} pp")

    return {
        "max_abs_diff": _json_float(t["max_abs_diff"]),
        "top1_agreement": agree,
        "accuracy": acc,
        "accuracy_delta_pp": delta,
        "passed": not failed,
        "failed_levels": failed,
        "levels_checked": checked,
        "reason": "; ".join(reasons),
    }


def _pick(thresholds: Mapping[str, Mapping[str, float]], precision: str) -> dict[str, float]:
    """Thresholds for one precision; accepts either a full table or a single precision's dict."""
    if all(k in thresholds for k in THRESHOLD_KEYS):
        return {k: float(thresholds[k]) for k in THRESHOLD_KEYS}  # type: ignore[arg-type]
    prec = base_precision(precision)
    table = merge_thresholds({k: v for k, v in thresholds.items() if base_precision(k) == prec})
    return table[prec]
