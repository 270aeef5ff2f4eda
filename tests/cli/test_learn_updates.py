"""`edgecl learn` writes the over-the-air update after every task's export (run option `updates`,
on by default, kept in run.json and changeable between calls), and the device rebuilds it exactly."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl_runtime.atomic_io import sha256_file
from edgecl_runtime.update.apply import apply_update
from tests.factory import tiny_run_config

runner = CliRunner()
FAST = ["--quiet", "--threads", "1", "--formats", "fp16"]


def _learn(*args):
    out = runner.invoke(app, ["learn", *map(str, args)])
    assert out.exit_code == 0, out.output
    return out.output


def test_learn_writes_each_update_and_the_device_rebuilds_it_byte_for_byte(tmp_path):
    config = tiny_run_config(tmp_path)
    run = tmp_path / "run"
    _learn("--run", run, "--config", config, "--task", 1, *FAST)
    assert not list(run.glob("task-01/update-from-*"))  # nothing to update from yet
    output = _learn("--run", run, "--task", 2, "--quiet", "--threads", "1")
    assert "update: " in output and "of the full" in output  # the one line print_update writes
    update = run / "task-02" / "update-from-01"
    rebuilt = apply_update(run / "task-01" / "export", update, tmp_path / "device" / "task-02")
    assert rebuilt["gates"] == {"fp32": True, "fp16": True}
    target = run / "task-02" / "export"
    models = [n for n in json.loads((target / "manifest.json").read_text())["files"] if n.endswith(".onnx")]
    assert len(models) == 2
    for name in models:  # the models are the full export's, byte for byte (golden.npz is the update's own)
        assert sha256_file(tmp_path / "device" / "task-02" / name) == sha256_file(target / name), name
    assert json.loads((run / "run.json").read_text())["config"]["updates"] is True
    status = runner.invoke(app, ["status", "--run", str(run)])
    words = " ".join(status.output.split())  # the console may wrap the line
    size = sum(e["bytes"] for e in json.loads((update / "update.json").read_text())["contents"].values())
    size += (update / "update.json").stat().st_size  # what a fleet downloads: the listed files and update.json
    assert status.exit_code == 0 and f"updates: task 2 from 1: {size:,} bytes (" in words, status.output


def test_no_updates_is_kept_and_can_be_turned_back_on(tmp_path):
    config = tiny_run_config(tmp_path, tasks=5)
    run = tmp_path / "run"
    _learn("--run", run, "--config", config, "--task", 1, "--no-updates", *FAST)
    _learn("--run", run, "--task", 2, "--quiet", "--threads", "1")
    assert not (run / "task-02" / "update-from-01").exists()
    assert json.loads((run / "run.json").read_text())["config"]["updates"] is False
    _learn("--run", run, "--task", 3, "--updates", "--quiet", "--threads", "1")  # not a conflict
    assert (run / "task-03" / "update-from-02" / "update.json").is_file()
