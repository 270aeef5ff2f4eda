"""A run with resize + centre crop: its bundle's DeepStream accuracy is measured on plain-resized
originals (what nvinfer feeds the network), not on the crops edgecl evaluates."""
from __future__ import annotations

import json

import numpy as np
import yaml
from PIL import Image
from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl.data.nvinfer_view import nvinfer_sources
from edgecl.exporters.nvidia.nvinfer_scale import nvinfer_input
from edgecl.data.run_data import open_data
from edgecl.exporters.nvidia.deepstream import nvinfer_predictions
from edgecl.exporters.parity.ort_session import onnx_logits
from edgecl.run.run import open_run
from tests.cli.test_sources_cli import KWARGS, photo_tree

runner = CliRunner()


def test_resize_crop_run_records_accuracy_on_plain_resized_images(tmp_path):
    photo_tree(tmp_path / "photos")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "dataset": "imagefolder", "data_root": str(tmp_path / "photos"), "weights": "none",
        "model": "vit_tiny_patch16_224", "model_kwargs": KWARGS, "tasks": 2, "rank": 2, "epochs": 1,
        "batch_size": 16, "resize": 32, "augment": "none", "export_formats": []}))
    run = tmp_path / "run"
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), "--quiet", "--threads", "1"])
    assert out.exit_code == 0, out.output
    bundle = run / "task-01" / "export"
    ds = json.loads((bundle / "manifest.json").read_text())["deepstream"]
    assert ds["preprocessing"].startswith("plain resize of the original image to 28x28")

    opened = open_run(run)
    data = open_data(opened)
    try:
        (source,) = nvinfer_sources(data, 1)
        idx = data.indices("test", 1)
        paths = [data.source.test.paths[i] for i in idx]
    finally:
        data.close()
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    expected = np.stack([nvinfer_input(f, 28, "bilinear") for f in frames])  # the whole 40x30 frame, squashed
    x = np.concatenate([b for b, _ in source.batches()])
    assert np.allclose(x, expected, atol=1e-6)
    pil = np.stack([np.asarray(Image.open(p).convert("RGB").resize((28, 28), Image.BILINEAR), np.float32)
                    .transpose(2, 0, 1) / 255 for p in paths])
    assert not np.allclose(x, pil, atol=1e-3)  # PIL antialiases when it shrinks; nvinfer does not
    assert ds["nearest_accuracy_pct"] is not None
    pred = nvinfer_predictions(onnx_logits(bundle / "model.onnx", x))
    assert ds["accuracy_pct"] == 100 * np.mean(pred == source.labels)
    assert (bundle / "deepstream" / "config_infer_fp32.txt").read_text().count("model-color-format=0") == 1
