"""INT8 calibration: the method names (the one list the config, the CLI and the quantiser import)
and the quantiser's options, validated once when they are built.

Why a separate module: it imports neither ONNX nor ONNX Runtime, so the run config and the command
line can check a method name without loading the quantiser. The methods and why MinMax is the
default: :mod:`.int8` and :mod:`.methods` (measurements: see benchmarks/RESULTS.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable, Mapping

CALIBRATIONS: tuple[str, ...] = ("minmax", "percentile", "entropy")  # also the retry order (.methods)
DEFAULT_CALIBRATION = "minmax"
QUANT_OPS: tuple[str, ...] = ("MatMul", "Conv", "Gemm")
FLOAT_LAYERS: tuple[str, ...] = ("patch_embed", "head")  # first and last layer stay float (see .int8)
CALIB_BATCH = 2  # images per calibrator run: ORT's session memory grows with it (see quantize_int8)
MIN_CALIB = 500  # the caller should pass at least this many images where the data has them


def check_calibration(method: str) -> str:
    """``method`` if it is one of :data:`CALIBRATIONS`, else a one-line ``ValueError``."""
    if method not in CALIBRATIONS:
        raise ValueError(f"unknown calibration method {method!r}: choose one of {', '.join(CALIBRATIONS)}")
    return method


def _names(value: Iterable[str]) -> tuple[str, ...]:
    """A set becomes its sorted names (a stable manifest), any other iterable a tuple as given."""
    return tuple(sorted(value)) if isinstance(value, (set, frozenset)) else tuple(value)


@dataclass(frozen=True)
class Int8Options:
    """How :func:`.int8.quantize_int8` quantises: ``method`` (one of :data:`CALIBRATIONS`),
    ``op_types`` whose inputs get Q/DQ, ``exclude_ops`` taken out of them, ``exclude_nodes`` left
    float, ``attention_matmuls`` (also quantise MatMuls of two activations), ``batch_size`` images
    per calibrator run, ``float_layers`` module names whose nodes stay float."""

    method: str = DEFAULT_CALIBRATION
    op_types: tuple[str, ...] = QUANT_OPS
    exclude_ops: tuple[str, ...] = ()
    exclude_nodes: tuple[str, ...] = ()
    attention_matmuls: bool = False
    batch_size: int = CALIB_BATCH
    float_layers: tuple[str, ...] = field(default=FLOAT_LAYERS)

    def __post_init__(self) -> None:
        check_calibration(self.method)
        for name in ("op_types", "exclude_ops", "exclude_nodes", "float_layers"):
            object.__setattr__(self, name, _names(getattr(self, name)))

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> "Int8Options":
        """From user options (an export's ``int8_options``): only the names the manifest records."""
        unknown = sorted(set(options or {}) - set(_RECORDED))
        if unknown:
            raise ValueError(f"unknown int8 option(s) {', '.join(unknown)}: use {', '.join(_RECORDED)}")
        return cls(**dict(options or {}))

    def with_method(self, method: str) -> "Int8Options":
        return replace(self, method=method)

    def to_json(self) -> dict[str, Any]:
        """The settings the manifest's ``calibration`` record holds (float_layers is not one of them)."""
        return {name: list(v) if isinstance(v, tuple) else v
                for name in _RECORDED for v in [getattr(self, name)]}


_RECORDED = tuple(f.name for f in fields(Int8Options) if f.name != "float_layers")

__all__ = ["CALIBRATIONS", "DEFAULT_CALIBRATION", "QUANT_OPS", "FLOAT_LAYERS", "CALIB_BATCH", "MIN_CALIB",
           "Int8Options", "check_calibration"]
