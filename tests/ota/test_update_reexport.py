"""Exporting a task again never leaves an update that rebuilds the previous export: the task's own
updates are written again for the new bundle (one line each), and an update a later task made *from*
the previous export is named, with the command that writes it again (devices holding the new bundle
would refuse it as made for another base)."""
import json
import shutil

from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl_runtime.atomic_io import sha256_file
from edgecl_runtime.cli import app as rt_app

runner = CliRunner()


def _export(run, *args):
    out = runner.invoke(app, ["export", "--run", str(run), *map(str, args)])
    assert out.exit_code == 0, out.output
    return " ".join(out.output.split())


def test_reexport_rewrites_the_tasks_updates_and_names_later_ones(made_update, tmp_path):
    run = shutil.copytree(made_update[0], tmp_path / "run")
    update = run / "task-02" / "update-from-01"
    before = json.loads((update / "update.json").read_text())
    words = _export(run, "--task", 2, "--opset", 16)  # another bundle for task 2 (an older opset)
    assert f"update:{update}" in words.replace(" ", "")  # the console may wrap the path
    after = json.loads((update / "update.json").read_text())
    assert after["target"]["export_manifest_sha256"] == sha256_file(run / "task-02" / "export" / "manifest.json")
    assert after["target"] != before["target"]
    new = tmp_path / "NEW"
    res = CliRunner().invoke(rt_app, ["update", str(run / "task-01" / "export"), str(update), "--out", str(new)])
    assert res.exit_code == 0, res.output
    for name in ("model.onnx", "model.fp16.onnx"):  # the new export, not the previous one
        assert sha256_file(new / name) == sha256_file(run / "task-02" / "export" / name)
    words = _export(run, "--task", 1, "--opset", 16)  # task 2's update was made from task 1's previous bundle
    assert "note: task-02/update-from-01 was made from the previous export of task 1" in words
    assert "edgecl export --task 2 --update-from 1" in words


def test_an_update_made_from_the_reexported_task_is_named_not_rewritten(made_update, tmp_path):
    """Devices in the field may hold the previous bundle of task 1 (the update's base): only the user
    knows which, so the update stays as it is; every re-export is another bundle (its manifest)."""
    run = shutil.copytree(made_update[0], tmp_path / "run")
    update = run / "task-02" / "update-from-01"
    (update / "marker").write_text("")  # would vanish if the folder were written again
    words = _export(run, "--task", 1)
    assert "note: task-02/update-from-01 was made from the previous export of task 1" in words
    assert (update / "marker").exists()
