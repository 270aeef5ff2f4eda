"""`edgecl export --triton REPO [--triton-name NAME]` and `edgecl.export(..., triton=...)`."""
from __future__ import annotations

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2
from typer.testing import CliRunner

import edgecl
from edgecl.cli.app import app

runner = CliRunner()


def test_export_publishes_to_triton_and_refuses_bad_names_first(tmp_path, tiny_config):
    run, repo = tmp_path / "run", tmp_path / "repo"
    learn = runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--no-export",
                                "--quiet", "--threads", "1"])
    assert learn.exit_code == 0, learn.output

    out = runner.invoke(app, ["export", "--run", str(run), "--triton", str(repo), "--triton-name", "a/b"])
    assert out.exit_code == 2 and "--triton-name" in out.output and len(out.output.strip().splitlines()) == 1
    assert not (run / "task-01" / "export").exists() and not repo.exists()  # refused before any work
    (tmp_path / "file").write_text("")
    out = runner.invoke(app, ["export", "--run", str(run), "--triton", str(tmp_path / "file")])
    assert out.exit_code == 2 and "is a file, not a folder" in out.output

    out = runner.invoke(app, ["export", "--run", str(run), "--triton", str(repo)])
    assert out.exit_code == 0, out.output
    assert "version 1" in out.output
    cfg = text_format.Parse((repo / "run" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert cfg.name == "run" and list(cfg.output[0].dims) == [2]  # default name: the run's folder
    assert (repo / "run" / "1" / "model.onnx").is_file()
    assert len((repo / "run" / "labels.txt").read_text().splitlines()) == 2

    edgecl.export(run, triton=repo, triton_name="api")
    assert (repo / "api" / "1" / "model.onnx").is_file() and (repo / "api" / "config.pbtxt").is_file()
