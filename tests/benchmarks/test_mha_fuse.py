"""benchmarks/mha_fuse.py (the ``+MHA`` candidate): every block of a real timm export is matched, the logits stay within float rounding of the unfused graph, the graph stays valid
ONNX in topological order, and a graph with another attention shape is left exactly as it was."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgecl.exporters.onnx.export import export_onnx
from edgecl.exporters.parity.ort_session import onnx_logits
from tests.factory import tiny_vit


BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
_spec = importlib.util.spec_from_file_location("mha_fuse", BENCH / "mha_fuse.py")
mha_fuse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mha_fuse)
fuse_attention = mha_fuse.fuse_attention


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("mha")
    return export_onnx(tiny_vit(num_classes=5).eval(), d / "m.onnx", input_shape=(1, 28, 28))


def test_every_block_is_fused_and_the_logits_hold(exported, tmp_path):
    model = onnx.load(str(exported))
    assert fuse_attention(model) == 2  # TINY has 2 blocks
    assert {n.op_type for n in model.graph.node}.isdisjoint({"Softmax"})
    heads = {a.i for n in model.graph.node if n.op_type == "MultiHeadAttention" for a in n.attribute if a.name == "num_heads"}
    assert heads == {2}
    onnx.checker.check_model(model, full_check=True)  # inputs produced before use, types inferred
    path = tmp_path / "fused.onnx"
    onnx.save(model, str(path))
    x = np.random.default_rng(0).random((6, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(onnx_logits(path, x), onnx_logits(exported, x), atol=1e-5, rtol=0)


def test_another_attention_shape_is_left_alone(exported):
    model = onnx.load(str(exported))
    for node in model.graph.node:  # LogSoftmax where timm has Softmax: not the pattern
        if node.op_type == "Softmax":
            node.op_type = "LogSoftmax"
    before = model.SerializeToString()
    assert fuse_attention(model) == 0 and model.SerializeToString() == before
