"""A tiny learned run shared by the OTA tests: 2 tasks of the bundled stream, FP32 bundles."""
import pytest
import yaml
from typer.testing import CliRunner

from edgecl.cli.app import app
from tests.cli.conftest import TINY_RUN

runner = CliRunner()
FAST = ["--quiet", "--threads", "1"]


def invoke(*args):
    out = runner.invoke(app, [str(a) for a in args])
    assert out.exit_code == 0, out.output
    return out


@pytest.fixture(scope="package")
def tiny_run(tmp_path_factory):
    """A 2-task run (task bundles exported, FP32 only): the base and the target of an update."""
    root = tmp_path_factory.mktemp("ota")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_RUN))
    run = root / "run"
    invoke("learn", "--run", run, "--config", config, "--formats", "none", *FAST)
    invoke("learn", "--run", run, *FAST)
    return run
