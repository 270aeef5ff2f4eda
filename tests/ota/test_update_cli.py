"""``edgecl export --update-from``: bad requests are refused in one line before any export work."""
import pytest
from typer.testing import CliRunner

from edgecl.cli.app import app

runner = CliRunner()


@pytest.mark.parametrize("base, text", [(2, "must name an earlier task"), (0, "must name an earlier task")])
def test_bad_update_from_is_a_usage_error(tiny_run, base, text):
    before = sorted(p.name for p in (tiny_run / "task-02").iterdir())
    out = runner.invoke(app, ["export", "--run", str(tiny_run), "--task", "2", "--update-from", str(base)])
    assert out.exit_code == 2 and text in out.output and len(out.output.strip().splitlines()) == 1, out.output
    assert sorted(p.name for p in (tiny_run / "task-02").iterdir()) == before


def test_a_killed_update_leaves_a_leftover_that_the_next_call_removes(tiny_run):
    from edgecl.run.bundles import clean_leftovers, leftovers
    from edgecl.run.store import RunStore

    stale = tiny_run / "task-02" / ".update-from-01.partial-abc"
    stale.mkdir()
    (stale / "update.json").write_text("{}")
    store = RunStore(tiny_run)
    assert stale in leftovers(store)
    clean_leftovers(store)
    assert not stale.exists()


def test_library_export_writes_the_update_too(tiny_run, tmp_path):
    import shutil

    import edgecl

    run = shutil.copytree(tiny_run, tmp_path / "run")  # the shared run's update stays as the fixture made it
    manifest = edgecl.export(run, task=2, update_from=1)
    assert manifest["task"] == 2 and manifest["update"]["base_task"] == 1
    assert (run / "task-02" / "update-from-01" / "update.json").is_file()
