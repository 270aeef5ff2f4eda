"""Interrupted exports are visible and repaired: a finished task whose export was asked
for but never completed shows ``export missing`` in ``status``; the next ``learn`` exports it again
and, like ``export``, removes what a killed writer left behind. The kill -9 is simulated by its
outcome: the task folder with its record, no bundle, and hidden temporaries."""
import shutil

from typer.testing import CliRunner

from edgecl.cli.app import app
from tests.factory import tiny_run_config

runner = CliRunner()
FAST = ["--quiet", "--threads", "1"]


def leave_leftovers(run):
    """What kill -9 leaves mid-write: a staged bundle, a bundle swapped aside, a temp file."""
    partial = run / "task-01" / ".export.partial-x1y2"
    partial.mkdir()
    (partial / "model.onnx").write_bytes(b"half")
    (run / "task-02" / ".export.k3l4.old").mkdir()
    (run / ".metrics.json.m5n6.tmp").write_text("{")
    return [partial, run / "task-02" / ".export.k3l4.old", run / ".metrics.json.m5n6.tmp"]


def test_status_shows_export_missing_and_learn_redoes_it(tmp_path):
    config = tiny_run_config(tmp_path, tasks=2, export_formats=[])
    run = tmp_path / "run"
    assert runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), *FAST]).exit_code == 0
    assert runner.invoke(app, ["learn", "--run", str(run), "--no-export", *FAST]).exit_code == 0
    shutil.rmtree(run / "task-01" / "export")  # killed before the staged bundle was renamed into place
    left = leave_leftovers(run)

    out = runner.invoke(app, ["status", "--run", str(run)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "task 1 export missing" in text and "task 2 not exported" in text
    assert "3 leftover temporary file(s)" in text

    out = runner.invoke(app, ["learn", "--run", str(run), *FAST])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "removed 3 leftover" in text and "task 1 has no bundle" in text and "all 2 tasks" in text
    assert (run / "task-01" / "export" / "manifest.json").is_file()
    assert not any(p.exists() for p in left)
    assert not (run / "task-02" / "export").exists()  # learned with --no-export: nothing to redo

    out = runner.invoke(app, ["status", "--run", str(run)])
    assert "task 1 bundle" in " ".join(out.output.split()) and "leftover" not in out.output


def test_export_removes_leftovers(tmp_path):
    config = tiny_run_config(tmp_path, tasks=2, export_formats=[])
    run = tmp_path / "run"
    assert runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), "--all", "--no-export",
                               *FAST]).exit_code == 0
    left = leave_leftovers(run)
    out = runner.invoke(app, ["export", "--run", str(run), "--task", "1"])
    assert out.exit_code == 0, out.output
    assert not any(p.exists() for p in left)
    assert (run / "task-01" / "export" / "manifest.json").is_file()
