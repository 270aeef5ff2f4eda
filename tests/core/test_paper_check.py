"""benchmarks/paper_check.py: one line and exit 1 without data or weights; with them, the memory
dims and A_T printed next to the official seed-0 numbers (a tiny stand-in for the protocol)."""
import importlib.util
from pathlib import Path

import yaml

from tests.cli.conftest import TINY_RUN

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "paper_check.py"


def _main():
    spec = importlib.util.spec_from_file_location("paper_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


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
