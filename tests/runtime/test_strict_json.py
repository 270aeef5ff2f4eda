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


@pytest.mark.parametrize("text", ['{"task": 1, "task": 2}', '[{"a": {"k": 1, "k": 1}}]'])
def test_a_repeated_key_is_refused(text):
    from edgecl_runtime.strict_json import StrictJSONError

    with pytest.raises(StrictJSONError, match="appears twice"):
        loads_finite(text)
    with pytest.raises(json.JSONDecodeError):  # every caller refusing invalid JSON refuses it too
        loads_finite(text)


@pytest.mark.parametrize("text", ['{"c": "\\ud800"}', '["ok", ["\\udc80"]]', '{"\\ud800": 1}', '"\\udfff"'])
def test_a_lone_surrogate_is_refused(text):
    from edgecl_runtime.strict_json import StrictJSONError

    with pytest.raises(StrictJSONError, match="surrogate"):
        loads_finite(text)


def test_a_surrogate_pair_is_unicode_text():
    assert loads_finite('{"c": "\\ud83d\\ude00"}') == {"c": "\U0001F600"}


@pytest.mark.parametrize("text", ['{"task": NaN}', '{"a": 1, "a": 2}'])
def test_read_json_is_strict(tmp_path, text):
    from edgecl_runtime.atomic_io import read_json

    path = tmp_path / "update.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="not valid strict JSON"):
        read_json(path, "update manifest")


def test_a_safetensors_header_naming_a_tensor_twice_is_refused(tmp_path):
    from edgecl_runtime.safetensors_read import read_safetensors

    header = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    path = tmp_path / "x.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0\0\0\0")
    with pytest.raises(ValueError, match="unreadable header"):
        read_safetensors(path)


def test_a_file_that_is_not_safetensors_is_refused_without_showing_its_bytes(tmp_path):
    from edgecl_runtime.safetensors_read import read_safetensors

    data = b"root:x:0:0:root:/root:/bin/bash\n"
    path = tmp_path / "passwd"
    path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        read_safetensors(path)
    assert str(int.from_bytes(data[:8], "little")) not in str(info.value)
