"""FP32 export: interface, opsets 16/17, dynamic batch, parity, atomicity, model state restored."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from edgecl.exporters.onnx import export as ox
from edgecl.exporters.parity.ort_session import onnx_logits
from edgecl.exporters.parity.reference import torch_logits

from ..conftest import tiny_model


def _ops(path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


@pytest.mark.parametrize("opset", [16, 17])
def test_opsets_and_layernorm(tmp_path, opset):
    model = tiny_model()
    path = ox.export_onnx(model, tmp_path / "m.onnx", input_shape=(1, 28, 28), opset=opset)
    m = ox.check_graph(path, opset=opset)
    ops = _ops(path)
    if opset == 16:  # TensorRT 8.5 (JetPack 5) cannot parse LayerNormalization
        assert "LayerNormalization" not in ops and "ReduceMean" in ops
    else:
        assert "LayerNormalization" in ops
    assert not any(n.op_type == "Attention" for n in m.graph.node)
    x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)  # batch 5 != traced 2
    assert np.abs(onnx_logits(path, x) - torch_logits(model, x)).max() < 1e-4


def test_dynamo_opset17_and_refuses_16(tmp_path):
    model = tiny_model()
    path = ox.export_onnx(model, tmp_path / "d.onnx", input_shape=(1, 28, 28), opset=17, exporter="dynamo")
    ox.check_graph(path, opset=17)
    assert [p.name for p in tmp_path.iterdir()] == ["d.onnx"]  # single file, no .onnx.data
    with pytest.raises(ox.ExportError, match="below 17 use the torchscript exporter"):
        ox.export_onnx(model, tmp_path / "e.onnx", input_shape=(1, 28, 28), opset=16, exporter="dynamo")


def test_bad_arguments_are_one_line(tmp_path):
    model = tiny_model()
    for kwargs in ({"input_shape": (28, 28)}, {"input_shape": (1, 28, 28), "exporter": "tf"},
                   {"input_shape": (1, 28, 28), "opset": 9}):
        with pytest.raises(ox.ExportError) as err:
            ox.export_onnx(model, tmp_path / "m.onnx", **kwargs)
        assert "\n" not in str(err.value)
    assert not list(tmp_path.iterdir())


def test_model_state_restored(tmp_path):
    model = tiny_model().train()
    attn = model.model.blocks[0].attn
    attn.fused_attn = True
    ox.export_onnx(model, tmp_path / "m.onnx", input_shape=(1, 28, 28))
    assert model.training and attn.fused_attn


def test_parity_check_catches_a_different_model(tmp_path):
    model = tiny_model()
    path = ox.export_onnx(model, tmp_path / "m.onnx", input_shape=(1, 28, 28))
    with torch.no_grad():
        model.model.head.bias[0] += 0.01
    x = np.random.default_rng(1).random((3, 1, 28, 28), dtype=np.float32)
    with pytest.raises(ox.ExportError, match="parity check failed"):
        ox.check_parity(model, path, x)


def test_failed_export_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ox.ExportError("ONNX parity check failed: injected")

    monkeypatch.setattr(ox, "check_parity", broken)
    with pytest.raises(ox.ExportError, match="injected"):
        ox.export_onnx(tiny_model(), tmp_path / "m.onnx", input_shape=(1, 28, 28))
    assert not list(tmp_path.iterdir())  # neither the file nor the staging folder


@pytest.mark.filterwarnings("ignore")  # the deliberate raw torch.onnx.export call warns about deprecation
def test_check_graph_rejects_wrong_names(tmp_path):
    model = tiny_model().eval()
    bad = tmp_path / "bad.onnx"
    torch.onnx.export(model, (torch.rand(2, 1, 28, 28),), str(bad), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
    with pytest.raises(ox.ExportError, match="graph I/O"):
        ox.check_graph(bad)


def test_exporter_crash_becomes_one_line_error(tmp_path):
    class NotExportable(torch.nn.Module):
        def forward(self, x):
            return torch.linalg.eigvals(x).real  # no ONNX op for eigenvalues

    with pytest.raises(ox.ExportError) as err:
        ox.export_onnx(NotExportable(), tmp_path / "m.onnx", input_shape=(1, 4, 4))
    assert "\n" not in str(err.value) and str(err.value).startswith("torchscript export failed")
    assert not list(tmp_path.iterdir())
