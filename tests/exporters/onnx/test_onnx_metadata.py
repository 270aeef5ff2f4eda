"""ONNX metadata stamping and the Polygraphy row choice, on small graphs."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgecl.exporters.onnx.metadata import metadata_for, read_metadata, stamp_onnx
from edgecl.exporters.nvidia.polygraphy import golden_rows


def _identity(path):
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 2])])
    model = helper.make_model(graph)
    helper.set_model_props(model, {"producer.note": "kept", "edgecl.task": "old"})
    onnx.save(model, str(path))
    return path


def test_stamp_replaces_edgecl_keys_keeps_others_and_sets_model_version(tmp_path):
    path = _identity(tmp_path / "m.onnx")
    props = metadata_for(classes=["a", "b;c"], task=3, input_spec={"color": "L", "crop": 28}, run="r",
                         precision="fp32")
    stamp_onnx(path, props, model_version=3)
    meta = read_metadata(path)
    assert meta["producer.note"] == "kept" and meta["edgecl.task"] == "3"
    assert meta["edgecl.classes"] == '["a", "b;c"]' and meta["edgecl.input_spec"] == '{"color": "L", "crop": 28}'
    assert list(meta).count("edgecl.task") == 1
    assert onnx.load(str(path)).model_version == 3
    onnx.checker.check_model(str(path), full_check=True)
    with pytest.raises(ValueError, match="model_version"):
        stamp_onnx(path, props, model_version=-1)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left


def test_polygraphy_rows_cover_every_task_within_the_caps():
    task_ids = np.array([1] * 40 + [2] * 3 + [3] * 40)
    inputs = np.zeros((len(task_ids), 1, 28, 28), np.float32)
    rows = golden_rows(inputs, task_ids, max_images=9)
    assert len(rows) == 9 and set(task_ids[rows]) == {1, 2, 3} and list(rows) == sorted(rows)
    assert len(golden_rows(inputs, task_ids, max_bytes=2 * 28 * 28 * 4)) == 2  # the byte cap wins
