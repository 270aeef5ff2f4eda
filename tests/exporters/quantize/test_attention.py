"""Attention as ONNX Runtime's MultiHeadAttention (the CPU file's rewrite): every block of a real timm
export is matched, the logits stay within float rounding of the unfused graph, the graph stays valid
ONNX in topological order, and a graph with another attention shape is left exactly as it was."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from edgecl.exporters.onnx.export import export_onnx
from edgecl.exporters.parity.ort_session import onnx_logits
from edgecl.exporters.quantize.attention import fuse_attention
from edgecl.exporters.quantize.int8cpu import quantize_int8_cpu
from tests.factory import tiny_vit


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


def test_the_cpu_file_can_be_made_without_the_rewrite(exported, tmp_path):
    fused = onnx.load(str(quantize_int8_cpu(exported, tmp_path / "a.onnx")))
    plain = onnx.load(str(quantize_int8_cpu(exported, tmp_path / "b.onnx", fuse=False)))
    count = lambda m: sum(n.op_type == "MultiHeadAttention" for n in m.graph.node)  # noqa: E731
    assert count(fused) == 2 and count(plain) == 0
