"""The INT8 gate across calibration methods: when the requested method fails even after the
float-layer fallback, the other calibrations are tried, each with its own fallback.

Why: the three methods fail on different models. On small-margin models (no classifier alignment,
SeqLoRA) MinMax ranges stretched by a few outliers leave too little resolution for the bulk of the
activations, and no set of float layers under half the MatMul FLOPs repairs it; Percentile or
Entropy, which clip those outliers, then pass with a few float layers. On other models it is the
reverse: clipping breaks Percentile (README, "INT8 calibration"; measured with
`python benchmarks/bench_learn.py`, see benchmarks/RESULTS.md).

Order: the requested method first (the user's or the run's choice, MinMax by default), then the
others in the order of :data:`.calibration.CALIBRATIONS`. The first file that passes ships; the manifest's
``calibration.method`` names it, ``calibration.requested`` the first choice and
``calibration.tried`` every attempt, so a device operator sees what was needed. Each attempt
re-calibrates (seconds to a minute on the bundled model) and has the fallback's own time limit, so
the worst case is three calibrations and three searches; a model that passes at the first try costs
nothing extra.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..parity.gate import GateResult, ParityGate
from ..parity.sources import BatchSource
from .calibration import CALIBRATIONS, Int8Options
from .fallback import gate_int8
from .int8 import quantize_int8
from .records import QuantFields

Attempt = Callable[[str], tuple[GateResult, QuantFields]]


@dataclass(frozen=True)
class CalibrationAttempt:
    """One method's try: its verdict, float layers kept, gate runs (first gate + the search's)."""

    method: str
    passed: bool
    top1_agreement: float | None
    float_nodes: int
    gate_runs: int
    fallback: bool

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CalibrationRecord:
    """The INT8 entry's ``calibration``: ``n`` images, the settings (``options``), the ``method`` of
    the file on disk, the ``requested`` one and every attempt (``tried``). Updated after each attempt,
    so a failure part-way still records what ran."""

    n: int
    options: Int8Options
    method: str = ""
    requested: str | None = None
    tried: list[CalibrationAttempt] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.method = self.method or self.options.method

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> "CalibrationRecord":
        names = [k for k in Int8Options().to_json() if k != "method"]
        options = Int8Options.from_mapping({**{k: record[k] for k in names},
                                            "method": record.get("requested", record["method"])})
        return cls(int(record["n"]), options, record["method"], record.get("requested"),
                   [CalibrationAttempt(**t) for t in record.get("tried", [])])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, **self.options.to_json(), "method": self.method}
        if self.requested is not None:
            out.update(requested=self.requested, tried=[t.to_json() for t in self.tried])
        return out


def methods_to_try(requested: str) -> list[str]:
    """``requested`` first, then the other calibration methods in :data:`.calibration.CALIBRATIONS` order."""
    return [requested] + [m for m in CALIBRATIONS if m != requested]


def gate_across_methods(requested: str, attempt: Attempt, calibration: CalibrationRecord
                        ) -> tuple[GateResult, QuantFields]:
    """Run ``attempt(method)`` (quantise with ``method``, gate, fallback; it leaves its file in place)
    for each method of :func:`methods_to_try` until one passes.

    Returns the passing attempt's (verdict, manifest fields). When none passes, the last attempt's
    (its file is the one left on disk, so the record describes the file the manifest hashes), with
    every attempt's agreement in the reason. ``calibration`` is updated after each attempt:
    ``method`` = the method of the returned result, ``requested``, ``tried``.
    """
    for method in methods_to_try(requested):
        gate, fields = attempt(method)
        searched = fields.fallback
        calibration.tried.append(CalibrationAttempt(
            method, bool(gate.passed), gate.top1_agreement, len(fields.float_nodes),
            1 + (len(searched.trials) if searched else 0), searched is not None))
        calibration.method, calibration.requested = method, requested
        if gate.passed:
            return gate, fields
    if len(calibration.tried) > 1:
        every = ", ".join(f"{t.method} {100 * (t.top1_agreement or 0):.2f} %" for t in calibration.tried)
        gate = gate.with_reason(f"every calibration failed ({every})")
    return gate, fields


def gate_calibrated(fp32: Path, path: Path, calib: np.ndarray | BatchSource, options: Int8Options,
                    gate: ParityGate, calibration: CalibrationRecord) -> tuple[GateResult, QuantFields]:
    """The INT8 file at ``path`` (written with ``options``) gated, with the float-layer fallback,
    then the other calibration methods, each re-quantised into ``path`` (see the module docstring)."""
    def attempt(method: str) -> tuple[GateResult, QuantFields]:
        if method != options.method:  # the requested method's file is the one the build wrote
            quantize_int8(fp32, path, calib, options.with_method(method))
        return gate_int8(fp32, path, calib, gate)
    return gate_across_methods(options.method, attempt, calibration)


__all__ = ["CalibrationAttempt", "CalibrationRecord", "methods_to_try", "gate_across_methods", "gate_calibrated"]
