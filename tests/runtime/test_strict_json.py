"""Strict JSON of the ground floor: every number the device decides with is finite."""
from __future__ import annotations

import json

import pytest

from edgecl_runtime.strict_json import NonFiniteNumber, loads_finite


@pytest.mark.parametrize("text", ['{"t": NaN}', '{"t": Infinity}', '{"t": -Infinity}', '{"t": 1e999}',
                                  '[1, -1e400]'])
def test_non_finite_numbers_are_refused(text):
    with pytest.raises(NonFiniteNumber):
        loads_finite(text)


def test_finite_numbers_parse_as_json_does():
    text = '{"a": 1, "b": -2.5e-3, "c": [0.0, 1e308], "d": "NaN"}'
    assert loads_finite(text) == json.loads(text)
