"""One line instead of a traceback for a damaged run, and ``status`` says which
checksums it verified: the metrics it shows always, every task and bundle file with ``--verify``."""
import json
import re

import pytest
from typer.testing import CliRunner

from edgecl.cli.app import app
from tests.factory import tiny_run_config

runner = CliRunner()


@pytest.fixture
def learned(tmp_path):
    config = tiny_run_config(tmp_path, export_formats=[])
    run = tmp_path / "run"
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), "--quiet", "--threads", "1"])
    assert out.exit_code == 0, out.output
    return run


def flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def one_line(out, text):
    assert out.exit_code != 0
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in out.output, out.output


def status(run, *extra):
    out = runner.invoke(app, ["status", "--run", str(run), *extra])
    return out, " ".join(out.output.split())


def test_status_says_what_it_verified(learned):
    out, text = status(learned)
    assert out.exit_code == 0 and "metrics.json of every task verified" in text and "add --verify" in text
    out, text = status(learned, "--verify")
    assert out.exit_code == 0, out.output
    n_files = len(json.loads((learned / "task-01" / "record.json").read_text())["files"])
    assert re.search(rf"checksums: all {n_files} task files and \d+ files of 1 bundles verified", text), text


def test_verify_catches_a_damaged_task_file_and_bundle_file(learned):
    flip_last_byte(learned / "task-01" / "export" / "model.onnx")
    out, text = status(learned)
    assert out.exit_code == 0  # the metrics shown are intact; the line says the bundle was not checked
    out, _ = status(learned, "--verify")
    one_line(out, "model.onnx is missing or does not match the manifest's sha256")
    flip_last_byte(learned / "task-01" / "weights.safetensors")
    out, _ = status(learned, "--verify")
    one_line(out, "weights.safetensors does not match its checksum")


def test_damaged_metrics_are_never_shown(learned):
    path = learned / "task-01" / "metrics.json"
    path.write_text(path.read_text().replace('"task": 1', '"task": 1 '))
    out, _ = status(learned)
    one_line(out, "metrics.json does not match its checksum")


@pytest.mark.parametrize("command", [["status"], ["export"], ["learn", "--no-export"]])
def test_run_json_without_config_is_one_line(learned, command):
    record = json.loads((learned / "run.json").read_text())
    del record["config"]
    (learned / "run.json").write_text(json.dumps(record))
    out = runner.invoke(app, [*command, "--run", str(learned)])
    one_line(out, "run.json lacks 'config': it is not an edgecl run file")
