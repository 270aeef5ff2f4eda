"""`edgecl export` keeps what a run ships: with no format option it re-exports every format of the
run and of the bundle (byte for byte where nothing changed), an update carries every format and the
device rebuilds each file exactly, and a request that would drop a shipped format is refused
unless it names the format."""
import shutil

import pytest
from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl_runtime.atomic_io import read_json, sha256_file
from edgecl_runtime.update.apply import apply_update

runner = CliRunner()
FAST = ["--quiet", "--threads", "1"]
MODELS = ("model.onnx", "model.fp16.onnx", "model.int8.onnx", "model.int8cpu.onnx")


def _edgecl(*args, code=0):
    out = runner.invoke(app, [str(a) for a in args])
    assert out.exit_code == code, out.output
    return out.output


def _hashes(bundle):
    return {p.relative_to(bundle).as_posix(): sha256_file(p) for p in sorted(bundle.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory):
    """A 2-task run learned with the default formats (FP32, FP16, INT8, int8cpu): both tasks shipped."""

    from tests.factory import tiny_run_config

    root = tmp_path_factory.mktemp("keep")
    config = tiny_run_config(root)
    run = root / "run"
    for _ in range(2):  # a format failing its gate on this 1-epoch model is recorded, the file still ships
        runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), *FAST])
    assert [p.name for p in sorted(run.glob("task-0*/export/manifest.json"))] == ["manifest.json"] * 2
    for task in ("task-01", "task-02"):
        assert all((run / task / "export" / m).is_file() for m in MODELS), task
    return run


def test_plain_export_with_update_keeps_every_file_and_rebuilds_each_byte_for_byte(shipped_run, tmp_path):
    run = shutil.copytree(shipped_run, tmp_path / "run")
    bundle = run / "task-02" / "export"
    before = _hashes(bundle)
    out = runner.invoke(app, ["export", "--run", str(run), "--task", "2", "--update-from", "1", "--threads", "1"])
    assert out.exit_code in (0, 1), out.output  # 1: a format's gate failed, recorded as when it was learned
    assert "formats: fp32, fp16, int8, int8cpu (kept from the run and its shipped bundles: fp16, int8, int8cpu)" \
        in out.output
    after = _hashes(bundle)
    assert set(after) == set(before)  # no file removed, none added
    changed = {n for n in before if before[n] != after[n]}
    assert changed <= {"manifest.json"}, changed  # the models, golden set and NVIDIA files are the same bytes
    update = read_json(run / "task-02" / "update-from-01" / "update.json")
    assert set(update["onnx"]) == set(MODELS)
    new = tmp_path / "device"
    apply_update(run / "task-01" / "export", run / "task-02" / "update-from-01", new)
    for name in MODELS:  # every format of the base bundle, rebuilt on the device as exported
        assert sha256_file(new / name) == after[name], name


def test_a_request_dropping_a_shipped_format_is_refused_and_writes_nothing(shipped_run):
    run = shipped_run
    bundle, update = run / "task-02" / "export", run / "task-02" / "update-from-01"
    before, update_before = _hashes(bundle), _hashes(update)  # learn wrote the update after task 2
    for formats in (["--formats", "fp16"], ["--formats", "none", "--fp16"], ["--formats", "-int8cpu,fp16"]):
        out = runner.invoke(app, ["export", "--run", str(run), "--task", "2", *formats])
        assert out.exit_code == 2, out.output
        lines = out.output.strip().splitlines()
        assert len(lines) == 1 and "which a device may run" in lines[0] and "--formats -int8" in lines[0], lines
    # an update from a base whose format the target would lack is refused the same way
    out = runner.invoke(app, ["export", "--run", str(run), "--task", "2", "--update-from", "1", "--formats", "fp16,int8"])
    assert out.exit_code == 2 and "task-02/export and task-01/export" in out.output, out.output
    assert _hashes(bundle) == before and _hashes(update) == update_before


def test_naming_a_format_removes_it_and_says_so(shipped_run, tmp_path):
    run = shutil.copytree(shipped_run, tmp_path / "run")
    bundle = run / "task-02" / "export"
    before = _hashes(bundle)
    out = runner.invoke(app, ["export", "--run", str(run), "--task", "2", "--formats", "-int8cpu", "--threads", "1"])
    assert out.exit_code in (0, 1), out.output
    assert "removed as asked: int8cpu" in out.output
    after = _hashes(bundle)
    assert "model.int8cpu.onnx" not in after
    for name in ("model.onnx", "model.fp16.onnx", "model.int8.onnx"):
        assert after[name] == before[name]


def test_export_threads_is_checked_where_it_enters(shipped_run):
    for command in (["export"], ["report", "--latency-iters", "0"]):
        out = runner.invoke(app, [*command, "--run", str(shipped_run), "--threads", "0"])
        assert out.exit_code == 2 and out.output.strip() == "error: --threads must be a positive integer, got 0"
