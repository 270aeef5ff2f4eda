"""Runs from a user's own photo folders (RGB, resize + crop) and from a local weights file."""
import json

import numpy as np
import timm
import torch
import yaml
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl.data.sources import load_source
from edgecl.data.transforms import eval_batch
from edgecl.run.models import task_model
from edgecl.run.run import open_run
from edgecl_runtime.predict.classifier import Classifier

runner = CliRunner()
KWARGS = {"img_size": 28, "patch_size": 7, "embed_dim": 32, "depth": 2, "num_heads": 2}


def photo_tree(root, classes=4, per_class=12):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in range(classes):
            folder = root / split / f"class_{c}"
            folder.mkdir(parents=True)
            colour = rng.integers(0, 255, 3)
            for i in range(per_class if split == "train" else 4):
                pixels = np.clip(colour + rng.normal(0, 30, (30, 40, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def test_imagefolder_rgb_run_exports_and_device_agrees(tmp_path):
    photo_tree(tmp_path / "photos")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "dataset": "imagefolder", "data_root": str(tmp_path / "photos"), "weights": "none",
        "model": "vit_tiny_patch16_224", "model_kwargs": KWARGS, "tasks": 2, "rank": 2, "epochs": 2,
        "batch_size": 16, "resize": 32, "augment": "crop-flip", "export_formats": []}))
    run = tmp_path / "run"
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), "--all", "--quiet", "--threads", "1"])
    assert out.exit_code == 0, out.output
    record = json.loads((run / "run.json").read_text())
    assert record["input"]["color"] == "RGB" and record["input"]["resize"] == 32 and record["input"]["crop"] == 28
    assert record["config"]["model_kwargs"]["in_chans"] == 3
    manifest = json.loads((run / "task-02" / "export" / "manifest.json").read_text())
    assert manifest["formats"]["fp32"]["status"] == "passed"
    assert manifest["classes"] == [f"class_{c}" for c in range(4)]
    # the device (files decoded and resized by the runtime) predicts what PyTorch predicts on the
    # trainer's own evaluation transform of the same files
    test = load_source("imagefolder", str(tmp_path / "photos")).test
    device = Classifier(run / "task-02" / "export").classify(test.paths, top_k=1)
    assert all("predictions" in r for r in device) and len(device) == 16
    inputs = eval_batch(test, np.arange(len(test)), record["input"])
    with torch.no_grad():
        torch_pred = task_model(open_run(run), 2)(inputs).argmax(1).tolist()
    assert [r["predictions"][0]["index"] for r in device] == torch_pred


def test_local_weights_file_safetensors_and_checkpoint(tmp_path, tiny_config):
    torch.manual_seed(5)
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=7, in_chans=1, **KWARGS)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(tmp_path / "b.safetensors"))
    torch.save({"state_dict": {f"module.{k}": v for k, v in vit.state_dict().items()}}, tmp_path / "b.pth")
    for name in ("b.safetensors", "b.pth"):
        run = tmp_path / f"run-{name}"
        out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--weights",
                                  str(tmp_path / name), "--no-export", "--quiet", "--threads", "1"])
        assert out.exit_code == 0, out.output
        from safetensors.torch import load_file

        learned = load_file(run / "task-01" / "weights.safetensors")
        assert torch.equal(learned["blocks.0.mlp.fc1.weight"], vit.state_dict()["blocks.0.mlp.fc1.weight"])
    out = runner.invoke(app, ["learn", "--run", str(tmp_path / "bad"), "--config", str(tiny_config), "--weights",
                              str(tmp_path / "missing.safetensors"), "--quiet"])
    assert out.exit_code == 1 and "weights file not found" in out.output
