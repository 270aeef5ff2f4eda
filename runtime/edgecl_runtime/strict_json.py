"""JSON that the device trusts: finite numbers, one value per key, text that is valid Unicode.

Python's ``json`` accepts ``NaN``, ``Infinity`` and overflowing literals such as ``1e999`` (which
become ``inf``). In a manifest or a thresholds file such a value is never legitimate: a NaN
threshold makes every comparison False, so ``diff > NaN`` can never fail a gate. It also keeps the
last of two equal keys, so a file can show a reviewer one value and give the program another;
and it turns ``"\\ud800"`` into a lone surrogate, a string that cannot be encoded as UTF-8 (signing
or printing it later fails). Every JSON the runtime decides with is therefore parsed here, and
each of these is refused with one line.
"""
from __future__ import annotations

import json
import math
from typing import Any, List, Tuple


class NonFiniteNumber(ValueError):
    """A NaN/Infinity literal, or a number too large for a float."""


class StrictJSONError(json.JSONDecodeError):
    """A document that is JSON by syntax but ambiguous or not Unicode: a repeated key, a lone surrogate.

    A JSONDecodeError, so every caller that already refuses invalid JSON refuses these too; its text
    is the problem alone (no position: the decoder hooks do not know it).
    """

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.msg, self.doc, self.pos, self.lineno, self.colno = message, "", 0, 1, 1

    def __reduce__(self) -> Any:
        return type(self), (self.msg,)


def _constant(name: str) -> float:
    raise NonFiniteNumber(f"{name} is not a finite number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"{text} does not fit a finite float")
    return value


def _shown(text: str) -> str:
    """A key as an error line shows it: escaped, at most 60 characters."""
    return ascii(text[:60])


def _unicode(text: str) -> str:
    """``text`` if it encodes as UTF-8; a lone surrogate (from a ``\\udXXX`` escape) is refused."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise StrictJSONError(f"string {_shown(text)} holds a lone surrogate (not Unicode text)") from None
    return text


def _object(pairs: List[Tuple[str, Any]]) -> dict:
    """A JSON object as a dict, refusing a key given twice and keys or strings that are not Unicode."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise StrictJSONError(f"key {_shown(key)} appears twice in one object")
        out[_unicode(key)] = value
        _check_strings(value)
    return out


def _check_strings(value: Any) -> None:
    """Refuse a lone surrogate in a string value (objects are checked as they are built)."""
    if isinstance(value, str):
        _unicode(value)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


def loads_finite(text: str) -> Any:
    """``json.loads`` that refuses what :mod:`strict_json` is about.

    Raises NonFiniteNumber on NaN, Infinity or an overflowing number; StrictJSONError (a
    ``json.JSONDecodeError``) on a repeated key or a lone surrogate; other syntax errors raise
    ``json.JSONDecodeError`` as usual.
    """
    value = json.loads(text, parse_constant=_constant, parse_float=_float, object_pairs_hook=_object)
    _check_strings(value)
    return value
