"""JSON that the device trusts: finite numbers only.

Python's ``json`` accepts ``NaN``, ``Infinity`` and overflowing literals such as ``1e999`` (which
become ``inf``). In a manifest or a thresholds file such a value is never legitimate: a NaN
threshold makes every comparison False, so ``diff > NaN`` can never fail a gate. Every JSON the
runtime decides with is therefore parsed here, and a non-finite number is refused with one line.
"""
from __future__ import annotations

import json
import math
from typing import Any


class NonFiniteNumber(ValueError):
    """A NaN/Infinity literal, or a number too large for a float."""


def _constant(name: str) -> float:
    raise NonFiniteNumber(f"{name} is not a finite number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"{text} does not fit a finite float")
    return value


def loads_finite(text: str) -> Any:
    """``json.loads`` that raises NonFiniteNumber on NaN, Infinity or an overflowing number.

    Other syntax errors raise ``json.JSONDecodeError`` as usual.
    """
    return json.loads(text, parse_constant=_constant, parse_float=_float)
