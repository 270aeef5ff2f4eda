"""Learn -> store -> export -> torch-free runtime: the device predicts what PyTorch predicts."""
import json

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl.data.sources import load_source
from edgecl.run.models import task_model
from edgecl.run.run import open_run
from edgecl_runtime.predict.classifier import Classifier
from edgecl_runtime.bundle.verify import verify_bundle
from tests.factory import tiny_run_config


def test_exported_bundle_verifies_and_agrees_with_pytorch(tmp_path):
    config = tiny_run_config(tmp_path, export_formats=["fp16"], align="ca")
    run = tmp_path / "run"
    for _ in range(2):
        out = CliRunner().invoke(app, ["learn", "--run", str(run), "--config", str(config), "--quiet", "--threads", "1"])
        assert out.exit_code == 0, out.output
    bundle = run / "task-02" / "export"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["classes"] == ["0", "1", "2", "3"]
    assert {f: manifest["formats"][f]["status"] for f in ("fp32", "fp16")} == {"fp32": "passed", "fp16": "passed"}
    record = verify_bundle(bundle, "ort", "fp32")
    assert record["passed"], record

    # real test images of both tasks written as PNG files, as a device would receive them
    source = load_source("default")
    idx = np.flatnonzero(source.test.labels < 4)[::10]
    paths = []
    for i in idx:
        path = tmp_path / f"img{i}.png"
        source.test.image(int(i)).save(path)
        paths.append(path)
    device = Classifier(bundle, backend="ort", precision="fp32").predict(paths, top_k=1)
    model = task_model(open_run(run), 2)
    images = torch.stack([torch.from_numpy(np.asarray(Image.open(p), dtype=np.float32) / 255.0)[None] for p in paths])
    with torch.no_grad():
        torch_pred = model(images).argmax(1).tolist()
    device_pred = [r[0]["index"] for r in device]
    assert len(device_pred) == len(idx) > 30
    assert device_pred == torch_pred  # 100 % agreement on real test images
