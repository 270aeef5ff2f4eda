"""``learn --force`` checks everything the relearn needs before it discards:
a damaged earlier task, a run.json that no longer matches the data, or a symlinked task folder
is one line and a non-zero exit, and tasks 4-5 are still there, byte-identical."""
import hashlib
import json
import shutil

import pytest
from typer.testing import CliRunner

from edgecl.cli.app import app
from tests.factory import tiny_run_config

runner = CliRunner()
FAST = ["--quiet", "--threads", "1", "--no-export"]


@pytest.fixture(scope="module")
def five_tasks(tmp_path_factory):
    """A learned 5-task tiny run (one epoch per task), copied by each test."""
    root = tmp_path_factory.mktemp("force")
    config = tiny_run_config(root)
    out = runner.invoke(app, ["learn", "--run", str(root / "run"), "--config", str(config), "--all", *FAST])
    assert out.exit_code == 0, out.output
    return root / "run"


def snapshot(run):
    """sha256 of every file under the run's task folders (what must survive a refused --force)."""
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file() and p.name != ".lock"}


def copy_run(five_tasks, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(five_tasks, run, symlinks=True)
    return run


def relearn_task_4(run):
    out = runner.invoke(app, ["learn", "--run", str(run), "--task", "4", "--force", *FAST])
    assert out.exit_code != 0
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "discarded" not in out.output, out.output
    return lines[0]


def refused_keeping_everything(run, expected):
    """``learn --task 4 --force`` fails naming ``expected`` and leaves every file of the run as it was."""
    before = snapshot(run)
    assert expected in relearn_task_4(run)
    assert snapshot(run) == before


def test_flipped_byte_in_an_earlier_task_keeps_tasks_4_and_5(five_tasks, tmp_path):
    run = copy_run(five_tasks, tmp_path)
    weights = run / "task-03" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    refused_keeping_everything(run, "task-03/weights.safetensors does not match its checksum")


def test_renamed_class_in_run_json_keeps_tasks_4_and_5(five_tasks, tmp_path):
    run = copy_run(five_tasks, tmp_path)
    record = json.loads((run / "run.json").read_text())
    record["class_names"][0] = "zero"
    (run / "run.json").write_text(json.dumps(record))
    refused_keeping_everything(run, "no longer matches this run's classes")


def test_edited_task_split_in_run_json_keeps_tasks_4_and_5(five_tasks, tmp_path):
    run = copy_run(five_tasks, tmp_path)
    record = json.loads((run / "run.json").read_text())
    record["task_classes"][4] = [8, 8]
    (run / "run.json").write_text(json.dumps(record))
    refused_keeping_everything(run, "task_classes must split the 10 classes into 5 tasks")


def test_symlinked_task_folder_is_refused_before_anything_is_deleted(five_tasks, tmp_path):
    run = copy_run(five_tasks, tmp_path)
    target = tmp_path / "elsewhere"
    (run / "task-04").rename(target)
    (run / "task-04").symlink_to(target, target_is_directory=True)
    before = snapshot(target)
    line = relearn_task_4(run)
    assert "task-04 is a symbolic link" in line and "replace the link" in line
    assert snapshot(target) == before and (run / "task-05" / "record.json").is_file()


def test_a_sound_force_still_relearns(five_tasks, tmp_path):
    run = copy_run(five_tasks, tmp_path)
    weights = (run / "task-05" / "weights.safetensors").read_bytes()
    out = runner.invoke(app, ["learn", "--run", str(run), "--task", "5", "--force", *FAST])
    assert out.exit_code == 0 and "discarded tasks [5]" in out.output, out.output
    assert (run / "task-05" / "weights.safetensors").read_bytes() == weights  # same seed, same task
