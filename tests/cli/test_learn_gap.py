"""A missing ``task-02/record.json`` never makes ``learn`` delete finished tasks after it: learning
task 2 again is refused in one line (exit 1, nothing deleted) until --force, and ``status`` shows the
stranded tasks."""
from typer.testing import CliRunner

from edgecl.cli.app import app

runner = CliRunner()
FAST = ["--quiet", "--threads", "1", "--no-export"]


def test_a_missing_record_strands_later_tasks_instead_of_deleting_them(tmp_path, tiny_config):
    run = tmp_path / "run"
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--all", *FAST])
    assert out.exit_code == 0, out.output
    (run / "task-02" / "record.json").unlink()
    later = {t: sorted(p.name for p in (run / f"task-{t:02d}").iterdir()) for t in (3, 4, 5)}

    for args in (["--task", "2"], []):
        out = runner.invoke(app, ["learn", "--run", str(run), *args, *FAST])
        lines = out.output.strip().splitlines()
        assert out.exit_code == 1 and len(lines) == 1 and "--force" in lines[0], out.output
        assert "tasks 3, 4, 5 are finished" in lines[0]
        assert {t: sorted(p.name for p in (run / f"task-{t:02d}").iterdir()) for t in (3, 4, 5)} == later

    out = runner.invoke(app, ["status", "--run", str(run)])
    assert out.exit_code == 0 and "tasks 3, 4, 5 are finished but task 2 has no record.json" in " ".join(
        out.output.split()), out.output

    out = runner.invoke(app, ["learn", "--run", str(run), "--task", "2", "--force", *FAST])
    assert out.exit_code == 0, out.output
    assert (run / "task-02" / "record.json").is_file()
    assert not any((run / f"task-{t:02d}").exists() for t in (3, 4, 5))
