"""`edgecl learn` says which input normalisation a new run uses when it creates it:
hub and file weights default to mean/std 0.5, the paper configs feed raw [0, 1] pixels."""
from typer.testing import CliRunner

from edgecl.cli.app import app

runner = CliRunner()


def test_created_run_prints_its_normalisation(tmp_path, tiny_config):
    args = ["learn", "--run", str(tmp_path / "r"), "--config", str(tiny_config), "--task", "1", "--no-export",
            "--quiet", "--threads", "1"]
    out = runner.invoke(app, args, terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "input normalisation mean [0.5] std [0.5]" in " ".join(out.output.split())
    out = runner.invoke(app, [*args[:5], "--task", "2", *args[7:]], terminal_width=200)
    assert out.exit_code == 0 and "input normalisation" not in out.output  # only when created
