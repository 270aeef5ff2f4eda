"""Files and folders written by learn/export follow the umask: under umask 022 every
file of the run and its bundle is 0644 and every folder 0755, so a service running as another user
can read the bundle; only the signing private key is 0600."""
import os
import stat

import pytest
from typer.testing import CliRunner

from edgecl.cli.app import app
from tests.factory import tiny_run_config

runner = CliRunner()


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_learned_run_and_bundle_are_world_readable(tmp_path, umask_022):
    out = runner.invoke(app, ["keygen", "--out", str(tmp_path / "keys")])
    assert out.exit_code == 0, out.output
    key = tmp_path / "keys" / "edgecl-sign.key"
    assert mode(key) == 0o600 and mode(tmp_path / "keys" / "edgecl-sign.pub") == 0o644
    config = tiny_run_config(tmp_path, export_formats=["fp16"])
    run = tmp_path / "run"
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), "--sign-key", str(key),
                              "--quiet", "--threads", "1"])
    assert out.exit_code == 0, out.output
    bundle = run / "task-01" / "export"
    named = [run / "run.json", run / "metrics.json", run / "task-01" / "metrics.json", bundle / "manifest.json",
             bundle / "manifest.sig", bundle / "golden.npz", bundle / "model.fp16.onnx", bundle / "model.onnx"]
    for path in named:
        assert mode(path) == 0o644, f"{path} is {oct(mode(path))}"
    for folder in (run, run / "task-01", bundle):
        assert mode(folder) == 0o755, f"{folder} is {oct(mode(folder))}"
    wrong = {str(p.relative_to(run)): oct(mode(p)) for p in run.rglob("*")
             if mode(p) != (0o755 if p.is_dir() else 0o644)}
    assert not wrong, wrong
    assert mode(key) == 0o600
