"""What an INT8 file's manifest entry says about its quantisation: :class:`QuantFields` (float
nodes, the int8 share of MatMul/Gemm FLOPs, search time) and, after a fallback search, its
:class:`FallbackRecord`. Both INT8 files (TensorRT's and the CPU one) record the same shape; each
type writes and reads its JSON (``to_json`` / ``from_json``), so the manifest keys live here only.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Collection, Mapping, Sequence

from ..parity.gate import GateSummary
from .flops import quantized_fraction


@dataclass(frozen=True)
class FallbackRecord:
    """One float-layer search: the gate that failed first, the sensitivity ranking (score None where
    the time limit came first), every gate run as (float layers, summary) and why it stopped."""

    first_gate: GateSummary
    sensitivity_images: int
    sensitivity: tuple[tuple[str, float], ...]
    trials: tuple[tuple[int, GateSummary], ...]
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"first_gate": self.first_gate.to_json(), "sensitivity_images": self.sensitivity_images,
                "sensitivity": [[name, None if math.isnan(s) else round(s, 6)] for name, s in self.sensitivity],
                "trials": [{"float_nodes": k, **g.to_json()} for k, g in self.trials], "reason": self.reason}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> "FallbackRecord":
        return cls(GateSummary.from_json(record["first_gate"]), int(record["sensitivity_images"]),
                   tuple((name, math.nan if s is None else float(s)) for name, s in record["sensitivity"]),
                   tuple((int(t["float_nodes"]), GateSummary.from_json(t)) for t in record["trials"]),
                   str(record["reason"]))


@dataclass(frozen=True)
class QuantFields:
    """The INT8 entry's ``float_nodes``, ``quantized_matmul_fraction`` (rounded to 4 places),
    ``fallback_seconds`` and, when a search ran, ``fallback``."""

    float_nodes: tuple[str, ...]
    quantized_matmul_fraction: float
    fallback_seconds: float
    fallback: FallbackRecord | None = None

    @classmethod
    def measure(cls, flops: Mapping[str, int], quantized: Collection[str], chosen: Sequence[str] = (),
                started: float | None = None, fallback: FallbackRecord | None = None) -> "QuantFields":
        """``chosen`` float out of ``quantized``; ``started`` (``time.monotonic``) when a search ran."""
        share = quantized_fraction(flops, set(quantized) - set(chosen))
        seconds = 0.0 if started is None else round(time.monotonic() - started, 3)
        return cls(tuple(chosen), round(share, 4), seconds, fallback)

    def to_json(self) -> dict[str, Any]:
        out = {"float_nodes": list(self.float_nodes), "quantized_matmul_fraction": self.quantized_matmul_fraction,
               "fallback_seconds": self.fallback_seconds}
        return out if self.fallback is None else {**out, "fallback": self.fallback.to_json()}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> "QuantFields":
        fallback = record.get("fallback")
        return cls(tuple(record["float_nodes"]), float(record["quantized_matmul_fraction"]),
                   float(record["fallback_seconds"]), None if fallback is None else FallbackRecord.from_json(fallback))


__all__ = ["FallbackRecord", "QuantFields"]
