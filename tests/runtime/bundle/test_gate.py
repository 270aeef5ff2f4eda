"""Gate maths: each level passes and fails on its own, thresholds merge strictly."""
import json
from pathlib import Path

import numpy as np
import pytest

from edgecl_runtime.bundle.gate import (DEFAULT_THRESHOLDS, base_precision, evaluate_gate,
                                 merge_thresholds, tensor_check)


def _logits(n=200, k=5, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.normal(0, 3, (n, k)).astype(np.float32)
    ref[np.arange(n), rng.integers(0, k, n)] += 6.0  # clear winners: small noise keeps argmax
    return ref, rng.integers(0, k, n)


def test_identical_passes_all_levels():
    ref, labels = _logits()
    g = evaluate_gate("fp32", ref[:16], ref[:16].copy(), ref, ref.copy(), labels)
    assert g["passed"] and g["failed_levels"] == [] and g["reason"] == ""
    assert g["levels_checked"] == [1, 2, 3] and g["accuracy_delta_pp"] == 0.0
    json.dumps(g, allow_nan=False)


def test_level1_fails_on_small_drift_for_fp32_but_not_fp16():
    ref, _ = _logits()
    out = ref + 1e-3
    g32 = evaluate_gate("fp32", ref, out)
    assert g32["failed_levels"] == [1] and "level 1" in g32["reason"]
    assert g32["levels_checked"] == [1, 2] and g32["accuracy"] is None
    assert evaluate_gate("fp16", ref, out)["passed"]
    assert evaluate_gate("trt_fp16", ref, out)["passed"]


def test_level1_nan_fails_and_record_stays_json():
    ref, _ = _logits(8)
    out = ref.copy()
    out[0, 0] = np.nan
    g = evaluate_gate("int8", ref, out)
    assert 1 in g["failed_levels"] and g["max_abs_diff"] is None and "NaN" in g["reason"]
    json.dumps(g, allow_nan=False)


def test_level2_fails_when_argmax_flips():
    ref, labels = _logits(200)
    out = ref.copy()
    out[:2] = out[:2, ::-1] * 10  # two flipped predictions -> 99.0 % agreement
    g = evaluate_gate("fp16", ref[:4] , ref[:4], ref, out, None)
    assert g["top1_agreement"] == pytest.approx(0.99) and g["failed_levels"] == [2]
    assert evaluate_gate("int8", ref[:4], ref[:4], ref, out, None)["passed"]


def test_level3_fails_on_accuracy_drop():
    ref, labels = _logits(1000)
    labels = ref.argmax(1).copy()  # reference is 100 % accurate
    out = ref.copy()
    # 5 wrong out of 1000 = 0.5 pp drop and 99.5 % agreement: level 2 ok for fp16, level 3 not
    idx = np.arange(5)
    out[idx, labels[idx]] = -100
    g = evaluate_gate("fp16", ref[10:20], out[10:20], ref, out, labels)
    assert g["failed_levels"] == [3] and g["accuracy_delta_pp"] == pytest.approx(-0.5)
    assert g["accuracy"] == pytest.approx(99.5) and "level 3" in g["reason"]
    assert evaluate_gate("int8", ref[10:20], out[10:20], ref, out, labels)["passed"]


def test_thresholds_merge_and_reject_typos():
    m = merge_thresholds({"trt_fp16": {"max_abs_diff": 0.2}})
    assert m["fp16"]["max_abs_diff"] == 0.2 and DEFAULT_THRESHOLDS["fp16"]["max_abs_diff"] == 5e-2
    with pytest.raises(ValueError, match="unknown gate threshold"):
        merge_thresholds({"fp16": {"max_abs": 1}})
    with pytest.raises(ValueError, match="unknown precision"):
        merge_thresholds({"bf16": {"max_abs_diff": 1}})
    assert base_precision("engine_int8") == "int8"
    ref, _ = _logits(8)
    g = evaluate_gate("fp32", ref, ref + 1e-3, thresholds={"fp32": {"max_abs_diff": 1e-2}})
    assert g["passed"]
    g = evaluate_gate("fp32", ref, ref + 1e-3, thresholds=m)
    assert not g["passed"]


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        tensor_check(np.zeros((2, 3)), np.zeros((2, 4)))
    assert tensor_check(np.zeros((2, 3)), np.ones((2, 3)))["max_abs_diff"] == 1.0


# The README's gate table, written out once more on purpose: loosening a threshold in the code
# (or in the README) must fail a test. The README sentence is checked too, so the two cannot drift.
README_TABLE = {
    "fp32": {"max_abs_diff": 1e-4, "top1_agreement": 1.0, "accuracy_delta_pp": 0.1},
    "fp16": {"max_abs_diff": 5e-2, "top1_agreement": 0.995, "accuracy_delta_pp": 0.3},
    "int8": {"max_abs_diff": 1.0, "top1_agreement": 0.99, "accuracy_delta_pp": 1.0},
    "int8cpu": {"max_abs_diff": 1.0, "top1_agreement": 0.99, "accuracy_delta_pp": 1.0},  # the INT8 gate
}


def test_default_thresholds_are_the_readme_table():
    assert DEFAULT_THRESHOLDS == README_TABLE
    text = " ".join((Path(__file__).parents[3] / "README.md").read_text().split())
    for phrase in ("FP32 ≤ 1e-4", "FP32 100 %, FP16 ≥ 99.5 %, INT8 ≥ 99 %", "≤ 0.1 / 0.3 / 1 pp"):
        assert phrase in text, phrase


def _clear_winners(n: int, k: int = 4) -> np.ndarray:
    """Float64 logits whose column 0 is exactly 0 and whose argmax is never column 0."""
    ref = np.zeros((n, k))
    ref[np.arange(n), 1 + np.arange(n) % (k - 1)] = 8.0
    return ref


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_level1_passes_exactly_at_the_threshold_and_fails_just_above(precision):
    limit = DEFAULT_THRESHOLDS[precision]["max_abs_diff"]
    ref = _clear_winners(10)
    at = ref.copy()
    at[:, 0] = limit  # |limit - 0| is exactly limit
    above = ref.copy()
    above[:, 0] = np.nextafter(limit, np.inf)
    g = evaluate_gate(precision, ref, at)
    assert g["passed"] and g["max_abs_diff"] == limit
    assert evaluate_gate(precision, ref, above)["failed_levels"] == [1]


@pytest.mark.parametrize("precision, flips", [("fp32", 0), ("fp16", 1), ("int8", 2)])
def test_level2_passes_exactly_at_the_threshold_and_fails_one_flip_below(precision, flips):
    ref = _clear_winners(200)
    out = ref.copy()
    out[:flips + 1, 0] = 20.0  # argmax moves to column 0 on flips + 1 rows
    at = ref.copy()
    at[:flips, 0] = 20.0
    g = evaluate_gate(precision, ref[:5], ref[:5], ref, at)
    assert g["passed"] and g["top1_agreement"] == DEFAULT_THRESHOLDS[precision]["top1_agreement"]
    assert evaluate_gate(precision, ref[:5], ref[:5], ref, out)["failed_levels"] == [2]


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_level3_boundary_is_inclusive(precision):
    """|delta| equal to the threshold passes, one ulp above fails (thresholds set to the measured delta)."""
    ref = _clear_winners(1000)
    labels = ref.argmax(1)
    out = ref.copy()
    out[:3, 0] = 20.0  # 3 wrong of 1000
    delta = abs(evaluate_gate(precision, ref[:5], ref[:5], ref, out, labels)["accuracy_delta_pp"])
    loose = {precision: {"top1_agreement": 0.0, "accuracy_delta_pp": delta}}
    assert evaluate_gate(precision, ref[:5], ref[:5], ref, out, labels, thresholds=loose)["passed"]
    tight = {precision: {"top1_agreement": 0.0, "accuracy_delta_pp": float(np.nextafter(delta, 0))}}
    g = evaluate_gate(precision, ref[:5], ref[:5], ref, out, labels, thresholds=tight)
    assert g["failed_levels"] == [3]
