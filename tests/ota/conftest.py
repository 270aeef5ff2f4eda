"""A tiny learned run shared by the OTA tests: 2 tasks of the bundled stream, FP32 + FP16 bundles,
and a signed update from task 1 to task 2 (made once; tests that alter it work on copies)."""
import shutil

import pytest
from typer.testing import CliRunner

from edgecl.cli.app import app
from tests.factory import tiny_run_config

runner = CliRunner()
FAST = ["--quiet", "--threads", "1"]


def invoke(*args):
    out = runner.invoke(app, [str(a) for a in args])
    assert out.exit_code == 0, out.output
    return out


@pytest.fixture(scope="package")
def tiny_run(tmp_path_factory):
    """A 2-task run with FP32 + FP16 bundles: the base and the target of an update."""
    root = tmp_path_factory.mktemp("ota")
    config = tiny_run_config(root)
    run = root / "run"
    invoke("learn", "--run", run, "--config", config, "--formats", "fp16", *FAST)
    invoke("learn", "--run", run, *FAST)
    return run


@pytest.fixture(scope="package")
def made_update(tiny_run, tmp_path_factory):
    """(run, key folder, export output): ``edgecl export --task 2 --update-from 1 --fp16 --sign-key``."""
    keys = tmp_path_factory.mktemp("keys")
    invoke("keygen", "--out", keys)
    out = invoke("export", "--run", tiny_run, "--task", 2, "--update-from", 1, "--fp16",
                 "--sign-key", keys / "edgecl-sign.key")
    return tiny_run, keys, out.output


@pytest.fixture
def update_copy(made_update, tmp_path):
    """A private copy of (base bundle, update folder) a test may alter."""
    run = made_update[0]
    base = shutil.copytree(run / "task-01" / "export", tmp_path / "base")
    update = shutil.copytree(run / "task-02" / "update-from-01", tmp_path / "update")
    return base, update
