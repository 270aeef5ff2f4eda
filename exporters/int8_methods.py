"""The INT8 gate across calibration methods: when the requested method fails even after the
float-layer fallback, the other calibrations are tried, each with its own fallback.

Why: the three methods fail on different models. On small-margin models (no classifier alignment,
SeqLoRA) MinMax ranges stretched by a few outliers leave too little resolution for the bulk of the
activations, and no set of float layers under half the MatMul FLOPs repairs it; Percentile or
Entropy, which clip those outliers, then pass with a few float layers. On other models it is the
reverse: clipping breaks Percentile (README, "INT8 calibration"). Measured on SeqLoRA, Split-MNIST,
task 5 (`python benchmarks/bench_learn.py`): MinMax 98.45 % agreement with 11 layers float (refused),
Percentile 99.05 % with 5, Entropy 99.10 % with 8.

Order: the requested method first (the user's or the run's choice, MinMax by default), then the
others in :data:`RETRY_ORDER`. The first file that passes ships; the manifest's
``calibration.method`` names it, ``calibration.requested`` the first choice and
``calibration.tried`` every attempt, so a device operator sees what was needed. Each attempt
re-calibrates (seconds to a minute on the bundled model) and has the fallback's own time limit, so
the worst case is three calibrations and three searches; a model that passes at the first try costs
nothing extra.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, MutableMapping

from .int8 import CALIB_METHODS

RETRY_ORDER: tuple[str, ...] = ("minmax", "percentile", "entropy")
Attempt = Callable[[str], tuple[Mapping[str, Any], dict[str, Any]]]


def methods_to_try(requested: str) -> list[str]:
    """``requested`` first, then the other calibration methods in :data:`RETRY_ORDER`."""
    if requested not in CALIB_METHODS:
        raise ValueError(f"unknown calibration method {requested!r}: choose one of {', '.join(CALIB_METHODS)}")
    return [requested] + [m for m in RETRY_ORDER if m != requested]


def gate_across_methods(requested: str, attempt: Attempt, calibration: MutableMapping[str, Any],
                        ) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """Run ``attempt(method)`` (quantise with ``method``, gate, fallback; it leaves its file in place)
    for each method of :func:`methods_to_try` until one passes.

    Returns the passing attempt's (gate record, manifest fields). When none passes, the last
    attempt's (its file is the one left on disk, so the record describes the file the manifest
    hashes), with every attempt's agreement in the reason. ``calibration`` (the manifest's record)
    is updated in place: ``method`` = the method of the returned result, ``requested``, ``tried``.
    """
    tried: list[dict[str, Any]] = []
    for method in methods_to_try(requested):
        gate, fields = attempt(method)
        searched = fields.get("fallback") or {}
        tried.append({"method": method, "passed": bool(gate.get("passed")),
                      "top1_agreement": gate.get("top1_agreement"),
                      "float_nodes": len(fields.get("float_nodes") or []),
                      "gate_runs": 1 + len(searched.get("trials") or []),  # first gate + the search's
                      "fallback": bool(searched)})
        calibration.update(method=method, requested=requested, tried=tried)
        if gate.get("passed"):
            return gate, fields
    record = dict(gate)
    if len(tried) > 1:
        every = ", ".join(f"{t['method']} {100 * (t['top1_agreement'] or 0):.2f} %" for t in tried)
        record["reason"] = "; ".join(r for r in (record.get("reason", ""), f"every calibration failed ({every})") if r)
    return record, fields


__all__ = ["RETRY_ORDER", "methods_to_try", "gate_across_methods"]
