"""benchmarks/paper_check.py: one line and exit 1 without data or weights; with them, the memory
dims and A_T printed next to the official seed-0 numbers (a tiny stand-in for the protocol)."""
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from edgecl.run.store import task_dirname
from tests.factory import TINY_RUN

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "benchmarks" / "paper_check.py"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _main():
    return _load("paper_check").main


REF = _load("paper_reference")
# Log folder dataset -> (the config's data_root, classes in all).
LOG_DATASETS = {"cifar100": ("data/cifar100", 100), "ImageNet_R": ("data/imagenet-r", 200)}
# Log folder method -> (the config's blocks, align).
LOG_METHODS = {"InfLoRA": (None, "none"), "InfLoRAb5": (5, "none"), "InfLoRA_CA": (None, "ca"),
               "InfLoRA_CA1": (None, "ca")}


def _config(name: str) -> dict:
    return yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", sorted(REF.SEED0_CURVE))
def test_seed0_curve_fits_its_config(name):
    """A curve a run is compared with task by task must cover the config's tasks with real percentages."""
    curve, tasks = REF.SEED0_CURVE[name], _config(name)["tasks"]
    assert len(curve) == tasks or (len(curve) < tasks and name in REF.SEED0_STOPPED_EARLY), (name, len(curve))
    assert all(0 < a <= 100 for a in curve), name
    assert name in REF.SEED0_LOG


@pytest.mark.parametrize("name", sorted(REF.SEED0_LOG))
def test_seed0_log_folder_is_the_configs_recipe(name):
    """A log at another lambda, rank, lr or optimiser would be a different protocol's curve."""
    parts = REF.SEED0_LOG[name].split("/")
    _, dataset, split, method, optimizer, rank, folder, seed = parts
    lam, lr = folder.split("_")[0], folder.split("-")[-1]
    config = _config(name)
    root, classes = LOG_DATASETS[dataset]
    assert (config["data_root"], classes // int(split.split("_")[1])) == (root, config["tasks"])
    assert LOG_METHODS[method] == (config.get("blocks"), config.get("align", "none"))
    assert (optimizer, int(rank), float(lam), float(lr), seed) == (
        config.get("optimizer", "adam"), config["rank"], config["lambda"], config["lr"], "0.log")


@pytest.mark.parametrize("name", sorted(set(REF.PAPER_FINAL) | set(REF.SEED0_DIMS)))
def test_paper_numbers_and_dims_name_a_config(name):
    """Every reference key is a config, so paper_check finds it by the config's file name."""
    config = _config(name)
    assert all(0 < a <= 100 for a in REF.PAPER_FINAL.get(name, ()))
    for task, dims in REF.SEED0_DIMS.get(name, {}).items():
        assert 1 <= task <= config["tasks"] and len(dims) == 12 and all(d > 0 for d in dims)


def test_missing_weights_or_data_is_one_line(tmp_path, capsys):
    main = _main()
    config = Path(__file__).parents[2] / "configs" / "imagenet-r-10.yaml"
    assert main(["--config", str(config), "--run", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "weights file weights/vit_base_patch16_224" in err and "not found" in err
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    assert main(["--config", str(config), "--run", str(tmp_path / "r"), "--weights", str(weights)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data folder data/imagenet-r" in err
    assert not (tmp_path / "r").exists()


def test_prints_dims_and_curve_next_to_the_official_run(tmp_path, capsys):
    config = tmp_path / "cifar100-10.yaml"  # the name picks the reference numbers
    config.write_text(yaml.safe_dump({**TINY_RUN, "tasks": 5}))
    assert _main()(["--config", str(config), "--run", str(tmp_path / "r"), "--tasks", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "memory dims after task 1 (block: edgecl | official seed 0):" in out and "|    6  (" in out
    assert "memory dims after task 10: not reached" in out
    assert "task  2:" in out and "|  96.55" in out and "paper, after the last task: A_T 86.51" in out


def test_accuracy_report_for_a_recipe_without_paper_numbers(tmp_path):
    """The -b5 and +CA keys print their seed-0 curve and say the paper number is missing."""
    run = tmp_path / "r"
    for task, accuracy in ((1, 90.0), (2, 86.0)):
        (run / task_dirname(task)).mkdir(parents=True)
        (run / task_dirname(task) / "metrics.json").write_text(json.dumps({"seen_accuracy": accuracy}))
    lines = _load("paper_check").accuracy_report("imagenet-r-10-b5", run, 2)
    assert lines[2] == "  task  2:  86.00 |  85.86"
    assert lines[-1] == "paper: no published number for imagenet-r-10-b5 in benchmarks/paper_reference.py"
