"""What the model will see: a new run prints its backbone, input and the data's typical size, keeps
them in run.json and the report, and warns exactly when colour is lost or images shrink over 4x."""
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl.run.run import Run
from edgecl.run.store import RunStore
from edgecl.run.view import InputView

runner = CliRunner()
COLOUR = "colour images meet a 1-channel model"
SHRUNK = "are shrunk"


def _folder(root, size, colour, per_class=4):
    """ROOT/{train,test}/{a,b}/*.png: noise images of ``size`` px, colour or grey."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", 2)):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                shape = (size, size, 3) if colour else (size, size)
                Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / split / cls / f"{i}.png")
    return root


@pytest.mark.parametrize("size, colour, notices", [
    (32, True, [COLOUR]),  # colour photos for the bundled grey backbone
    (224, False, [SHRUNK]),  # 224-px images for its 28-px input: 8x
    (28, False, []),  # MNIST-sized grey folders: what the backbone was made for
])
def test_a_new_run_says_what_the_model_sees_and_warns_only_when_it_loses_something(tmp_path, size, colour, notices):
    data = _folder(tmp_path / "data", size, colour)
    run = tmp_path / "run"
    out = runner.invoke(app, ["learn", "--run", str(run), "--dataset", "imagefolder", "--data-root", str(data),
                              "--tasks", "2", "--epochs", "1", "--batch-size", "8", "--no-export", "--quiet",
                              "--threads", "1", "--workers", "0"])
    assert out.exit_code == 0, out.output
    line = next(l for l in out.output.splitlines() if l.startswith("model input:"))
    assert "the bundled backbone (vit_tiny_patch16_224) reads 1-channel (grey) 28x28 px" in line
    assert f"typically {size}x{size} px (8 files sampled)" in line
    assert ("data: colour images" if colour else "data: grey images") in line
    printed = [l for l in out.output.splitlines() if l.startswith("notice:")]
    assert [n for n in (COLOUR, SHRUNK) if any(n in l for l in printed)] == notices
    assert len(printed) == len(notices)
    for line in printed:  # each notice names the options that change it
        assert "--model NAME" in line and "--weights hub" in line and "--weights FILE" in line
    assert (SHRUNK in " ".join(printed)) == ("--resize N" in " ".join(printed))
    stored = json.loads((run / "run.json").read_text())["view"]
    assert stored["data_size"] == [size, size] and stored["channels"] == 1 and stored["pixels"] == 28
    report = runner.invoke(app, ["report", "--run", str(run), "--latency-iters", "0"])
    assert report.exit_code == 0, report.output
    text = (run / "report.md").read_text()
    assert "What the model sees: model input: the bundled backbone" in text
    assert (COLOUR in text, SHRUNK in text) == (COLOUR in notices, SHRUNK in notices)


def test_a_colour_model_and_a_resize_make_no_notice():
    view = InputView("vit_small_patch16_224 (--weights hub)", 3, 224, 256, "RGB", (800, 600), 8)
    assert view.notices() == []  # 600 px to 256: 2.3x
    assert "(resized to 256 px, centre-cropped)" in view.line()
    assert InputView("m", 1, 28, None, "RGB", (300, 300)).notices()[0].startswith(COLOUR)
    assert len(InputView("m", 3, 28, None, "RGB", (113, 500)).notices()) == 1  # 113 / 28 > 4: shrunk
    assert InputView("m", 3, 28, None, "RGB", (112, 500)).notices() == []  # exactly 4x: no notice


def test_grey_pixels_saved_as_rgb_are_grey(tmp_path):
    from edgecl.run.view import _file_view

    paths = []
    for i in range(3):
        grey = np.random.default_rng(i).integers(0, 256, (40, 30), dtype=np.uint8)
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(np.stack([grey] * 3, axis=2)).save(path, quality=90)
        paths.append(path)
    assert _file_view(paths, 8) == ("L", (30, 40), 3)


def test_a_run_json_without_view_still_reads_and_stays_without_it(tmp_path):
    store = RunStore(tmp_path)
    data = {"store_version": 1, "config": {}, "class_names": ["a", "b"], "task_classes": [[0], [1]],
            "input": {"crop": 28}, "created": "then"}
    run = Run.from_dict(store, data)
    assert run.view is None and "view" not in run.to_dict() and run.to_dict()["created"] == "then"
    view = InputView("m", 1, 28, None, "L", (28, 28), 0)
    again = Run.from_dict(store, {**data, "view": view.to_dict()})
    assert again.view == view and again.to_dict()["view"] == view.to_dict() and "view" not in again.meta
