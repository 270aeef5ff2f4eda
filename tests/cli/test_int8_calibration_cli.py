"""`--int8-calibration`: the run's method reaches the INT8 file and its manifest, `export` can override
it for one export, and a bad name is one line before anything is written."""
import json

from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl.config import INT8_CALIBRATIONS
from edgecl.exporters.quantize import CALIBRATIONS
from edgecl.exporters.quantize.int8 import ORT_METHODS

runner = CliRunner()


def _int8(run, task=1):
    return json.loads((run / f"task-{task:02d}" / "export" / "manifest.json").read_text())["formats"]["int8"]


def test_names_match_the_exporter():
    assert INT8_CALIBRATIONS is CALIBRATIONS  # one list, imported by the config
    assert set(INT8_CALIBRATIONS) == set(ORT_METHODS)


def _export(run, *extra):
    """`edgecl export --int8 ...`: the INT8 entry; its exit code must agree with the gate's verdict
    (the tiny random-weight model may fail INT8 with a clipping method: only the plumbing is tested)."""
    out = runner.invoke(app, ["export", "--run", str(run), "--int8", *extra])
    entry = _int8(run)
    assert out.exit_code == (0 if entry["status"] == "passed" else 1), out.output
    assert "Collecting tensor data" not in out.output  # ORT's per-batch prints stay out of the CLI
    return entry


def test_run_method_is_used_and_export_overrides_it(tmp_path, tiny_config):
    run = tmp_path / "run"
    learn = runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--quiet", "--threads", "1",
                                "--no-export", "--formats", "int8", "--int8-calibration", "percentile"])
    assert learn.exit_code == 0, learn.output
    assert json.loads((run / "run.json").read_text())["config"]["int8_calibration"] == "percentile"
    assert _export(run)["calibration"]["tried"][0]["method"] == "percentile"
    entry = _export(run, "--int8-calibration", "entropy")
    assert entry["calibration"]["requested"] == entry["calibration"]["tried"][0]["method"] == "entropy"
    assert _export(run, "--int8-calibration", "minmax")["calibration"]["requested"] == "minmax"
    entry = _export(run)  # back to the run's own method
    calibration = entry["calibration"]
    assert calibration["requested"] == "percentile"
    # the shipped method is the first that passed, else the last tried (the file on disk)
    tried = calibration["tried"]
    assert calibration["method"] == tried[-1]["method"] and [t["passed"] for t in tried[:-1]] == [False] * (len(tried) - 1)
    assert entry["status"] == ("passed" if tried[-1]["passed"] else "gate_failed")


def test_bad_method_is_one_line_and_writes_nothing(tmp_path, tiny_config):
    run = tmp_path / "run"
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--quiet",
                              "--int8-calibration", "kl"])
    assert out.exit_code == 2 and "--int8-calibration must be one of minmax, percentile, entropy" in out.output
    assert not (run / "run.json").exists()
    learn = runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--no-export",
                                "--quiet", "--threads", "1"])
    assert learn.exit_code == 0, learn.output
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    out = runner.invoke(app, ["export", "--run", str(run), "--int8", "--int8-calibration", "kl"])
    assert out.exit_code == 1 and "--int8-calibration must be one of" in out.output
    assert len(out.output.strip().splitlines()) == 1
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
