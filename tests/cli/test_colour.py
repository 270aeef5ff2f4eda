"""Colour follows the model: class folders are read as L by a 1-channel model and as RGB by a
3-channel one, run.json's input spec says which, and a model/data pair that cannot work is refused
in one line before run.json exists."""
import json

import numpy as np
import pytest
import timm
import yaml
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl.data.imageset import ArrayImageSet, Source
from edgecl.run import creation

runner = CliRunner()
KWARGS = {"img_size": 28, "patch_size": 7, "embed_dim": 32, "depth": 2, "num_heads": 2}
FAST = ["--threads", "1", "--quiet", "--no-export"]


def image_tree(root, mode, classes=2, per_class=6):
    """ROOT/{train,test}/class_c/*.png, every class a flat grey level (mode L) or colour (RGB)."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in range(classes):
            folder = root / split / f"class_{c}"
            folder.mkdir(parents=True)
            level = rng.integers(0, 255, 1 if mode == "L" else 3)
            for i in range(per_class if split == "train" else 2):
                pixels = np.clip(level + rng.normal(0, 20, (20, 24, len(level))), 0, 255).astype(np.uint8)
                Image.fromarray(pixels[..., 0] if mode == "L" else pixels).save(folder / f"{i}.png")
    return root


def write_config(tmp_path, **values):
    base = {"dataset": "imagefolder", "tasks": 2, "rank": 2, "epochs": 1, "batch_size": 16, "augment": "none",
            "export_formats": []}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**base, **values}))
    return path


def weights_file(tmp_path, in_chans):
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, in_chans=in_chans, **KWARGS)
    path = tmp_path / f"vit{in_chans}.safetensors"
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(path))
    return path


def learn(run, config, *extra):
    return runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), *FAST, *extra])


def learned(run, out):
    assert out.exit_code == 0, out.output
    assert (run / "task-01" / "weights.safetensors").is_file()
    return json.loads((run / "run.json").read_text())


def test_grey_folder_with_bundled_backbone_reads_L(tmp_path):
    config = write_config(tmp_path, data_root=str(image_tree(tmp_path / "grey", "L")), weights="bundled")
    record = learned(tmp_path / "run", learn(tmp_path / "run", config))
    assert record["input"]["color"] == "L" and record["input"]["shape"][1] == 1
    assert record["config"]["model_kwargs"]["in_chans"] == 1


def test_rgb_folder_with_3_channel_weights_file_reads_RGB(tmp_path):
    config = write_config(tmp_path, data_root=str(image_tree(tmp_path / "rgb", "RGB")), model="vit_tiny_patch16_224",
                          model_kwargs=KWARGS, weights=str(weights_file(tmp_path, 3)))
    record = learned(tmp_path / "run", learn(tmp_path / "run", config))
    assert record["input"]["color"] == "RGB" and record["input"]["shape"][1] == 3
    assert record["config"]["model_kwargs"]["in_chans"] == 3 and len(record["config"]["mean"]) == 3


@pytest.mark.parametrize("kwargs", [KWARGS, {**KWARGS, "in_chans": 3}], ids=["default", "in_chans-3"])
def test_grey_folder_with_3_channel_model_reads_RGB(tmp_path, kwargs):
    config = write_config(tmp_path, data_root=str(image_tree(tmp_path / "grey", "L")), model="vit_tiny_patch16_224",
                          model_kwargs=kwargs, weights="none")
    record = learned(tmp_path / "run", learn(tmp_path / "run", config))
    assert record["input"]["color"] == "RGB" and record["config"]["model_kwargs"]["in_chans"] == 3


def test_grey_source_with_3_channel_weights_file_reads_RGB(tmp_path):
    config = write_config(tmp_path, dataset="default", tasks=5, model="vit_tiny_patch16_224", model_kwargs=KWARGS,
                          weights=str(weights_file(tmp_path, 3)), batch_size=256)
    record = learned(tmp_path / "run", learn(tmp_path / "run", config))
    assert record["input"]["color"] == "RGB" and record["config"]["model_kwargs"]["in_chans"] == 3


def fake_cifar(name, data_root=None):
    rng = np.random.default_rng(0)
    arrays = [ArrayImageSet(rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), np.arange(8) % 4) for _ in range(2)]
    return Source("cifar100", [f"c{i}" for i in range(4)], arrays[0], arrays[1], "RGB", 32)


REFUSALS = {
    "rgb-source-bundled": ({"weights": "bundled"}, "the bundled backbone reads 1-channel (grey) images but cifar100 is RGB"),
    "rgb-source-in_chans-1": ({"weights": "none", "model": "vit_tiny_patch16_224", "model_kwargs": {**KWARGS, "in_chans": 1}},
                              "model_kwargs in_chans=1 reads 1-channel (grey) images but cifar100 is RGB: drop in_chans"),
    "rgb-source-1-channel-file": ({"weights": "FILE1", "model": "vit_tiny_patch16_224", "model_kwargs": KWARGS},
                                  "3-channel weights file"),
    "bundled-in_chans-3": ({"weights": "bundled", "model_kwargs": {"in_chans": 3}}, "contradicts the bundled backbone"),
    "file-in_chans-1": ({"weights": "FILE3", "model": "vit_tiny_patch16_224", "model_kwargs": {**KWARGS, "in_chans": 1}},
                        "contradicts weights file"),
    "in_chans-2": ({"weights": "none", "model": "vit_tiny_patch16_224", "model_kwargs": {**KWARGS, "in_chans": 2}},
                   "use 1 (grey images) or 3"),
    "mean-3-for-bundled": ({"weights": "bundled", "mean": [0.5, 0.5, 0.5]}, "mean has 3 values but the model reads 1-channel images: give 1 value"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_impossible_combinations_are_refused_before_run_json(tmp_path, monkeypatch, case):
    values, message = REFUSALS[case]
    if values["weights"].startswith("FILE"):
        values = {**values, "weights": str(weights_file(tmp_path, int(values["weights"][4:])))}
    if case.startswith("rgb-source"):
        monkeypatch.setattr(creation, "load_source", fake_cifar)
        config = write_config(tmp_path, dataset="cifar100", data_root=str(tmp_path), **values)
    else:
        config = write_config(tmp_path, data_root=str(image_tree(tmp_path / "photos", "RGB", per_class=1)), **values)
    out = learn(tmp_path / "run", config)
    assert out.exit_code != 0
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.output
    assert not (tmp_path / "run" / "run.json").exists()


def test_grey_folder_exports_an_L_bundle_that_classifies_grey_files(tmp_path):
    """The colour reaches the device: the bundle's manifest says L, its ONNX takes one channel, and
    the runtime classifies the folder's own grey PNGs as the PyTorch model did on the golden set."""
    from edgecl_runtime.predict.classifier import Classifier

    root = image_tree(tmp_path / "grey", "L")
    config = write_config(tmp_path, data_root=str(root), weights="bundled")
    run = tmp_path / "run"
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), "--threads", "1", "--quiet"])
    assert out.exit_code == 0, out.output
    bundle = run / "task-01" / "export"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["input"]["color"] == "L" and manifest["input"]["shape"][1] == 1
    assert manifest["formats"]["fp32"]["status"] == "passed"
    clf = Classifier(bundle)
    try:
        assert clf.input_shape[0] == 1
        results = clf.classify(sorted((root / "test").glob("class_*/*.png")), top_k=1)
    finally:
        clf.close()
    assert len(results) == 4 and all("error" not in r for r in results)
