"""Every option is checked before run.json is written: a bad value is one line,
a non-zero exit and no run.json, so the corrected command then creates the run (no "conflict")."""
import pytest
import timm
import yaml
from safetensors.torch import save_file
from typer.testing import CliRunner

from edgecl.cli.app import app
from tests.factory import TINY_RUN
from tests.cli.test_colour import KWARGS, image_tree

runner = CliRunner()
FAST = ["--quiet", "--threads", "1", "--no-export"]

# probe -> (bad options, message, corrected options); the tiny model is 32 wide and 2 blocks deep
PROBES = {
    "rank-500": (["--rank", "500"], "--rank must be in [1, 32]", ["--rank", "4"]),
    "blocks-0": (["--blocks", "0"], "--blocks must be a positive number", ["--blocks", "1"]),
    "blocks-9": (["--blocks", "9"], "--blocks must be in [1, 2]", ["--blocks", "2"]),
    "augment-bogus": (["--augment", "bogus"], "unknown augmentation 'bogus'", ["--augment", "none"]),
    "model-resnet18": (["--model", "resnet18"], "--model resnet18 cannot be used", ["--model", "vit_tiny_patch16_224"]),
}


def write_yaml(path, values):
    path.write_text(yaml.safe_dump(values))
    return path


def learn(run, config, *extra):
    return runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), *FAST, *extra])


def refused_then_created(run, bad, message, good):
    """The bad call leaves no run.json; the corrected one learns task 1."""
    out = bad()
    assert out.exit_code != 0
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in out.output, out.output
    assert not (run / "run.json").exists()
    out = good()
    assert out.exit_code == 0, out.output
    assert (run / "run.json").is_file() and (run / "task-01" / "record.json").is_file()


@pytest.mark.parametrize("probe", list(PROBES))
def test_bad_option_then_corrected_retry(tmp_path, probe):
    bad, message, good = PROBES[probe]
    config = write_yaml(tmp_path / "tiny.yaml", TINY_RUN)  # options given here override the YAML
    run = tmp_path / "run"
    refused_then_created(run, lambda: learn(run, config, *bad), message, lambda: learn(run, config, *good))


def test_epochs_five_in_yaml_then_corrected(tmp_path):
    run = tmp_path / "run"
    bad = write_yaml(tmp_path / "bad.yaml", {**TINY_RUN, "epochs": "five"})
    good = write_yaml(tmp_path / "good.yaml", {**TINY_RUN, "lr": "1e-3"})  # YAML 1.1 reads 1e-3 as text
    refused_then_created(run, lambda: learn(run, bad), "option epochs='five' must be an integer",
                         lambda: learn(run, good))


def test_imagefolder_colour_that_does_not_fit_the_model_then_corrected(tmp_path):
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, in_chans=3, **KWARGS)
    weights = tmp_path / "vit3.safetensors"
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(weights))
    base = {"dataset": "imagefolder", "data_root": str(image_tree(tmp_path / "photos", "RGB", per_class=2)),
            "tasks": 2, "rank": 2, "epochs": 1, "batch_size": 16, "augment": "none",
            "model": "vit_tiny_patch16_224", "weights": str(weights)}
    bad = write_yaml(tmp_path / "bad.yaml", {**base, "model_kwargs": {**KWARGS, "in_chans": 1}})
    good = write_yaml(tmp_path / "good.yaml", {**base, "model_kwargs": KWARGS})
    run = tmp_path / "run"
    refused_then_created(run, lambda: learn(run, bad), "contradicts weights file", lambda: learn(run, good))
