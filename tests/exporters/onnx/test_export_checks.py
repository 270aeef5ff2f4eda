"""The two checks every exported graph passes before it enters a bundle, on a hand-built graph.

``check_graph`` must refuse a graph whose opset is not the one asked for (JetPack 5's TensorRT 8.5
parses opset 16 but not 17's LayerNormalization: a silently different opset breaks the device),
and ``check_parity`` must refuse logits that are not finite: NaN compares False with any
tolerance, so ``diff > atol`` alone lets a NaN model through.
"""
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from edgecl.exporters.onnx.export import ExportError, check_graph, check_parity

WEIGHT = np.arange(12, dtype=np.float32).reshape(4, 3) / 10


def _linear_onnx(path, opset: int):
    """input (?, 1, 2, 2) -> Flatten -> MatMul(WEIGHT) -> logits (?, 3)."""
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 2, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(WEIGHT, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _torch_linear(weight: np.ndarray) -> nn.Module:
    lin = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(weight.T.copy()))
    return nn.Sequential(nn.Flatten(), lin).eval()


def test_a_graph_with_another_opset_than_asked_for_is_refused(tmp_path):
    path = _linear_onnx(tmp_path / "m.onnx", opset=16)
    check_graph(path, opset=16)
    with pytest.raises(ExportError, match="opset"):
        check_graph(path, opset=17)


def test_parity_refuses_non_finite_logits(tmp_path):
    path = _linear_onnx(tmp_path / "m.onnx", opset=17)
    x = np.random.default_rng(0).random((3, 1, 2, 2), dtype=np.float32)
    assert check_parity(_torch_linear(WEIGHT), path, x) < 1e-5
    poisoned = WEIGHT.copy()
    poisoned[0, 0] = np.nan
    with pytest.raises(ExportError, match="parity"):
        check_parity(_torch_linear(poisoned), path, x)
