"""The CLI's error contract: EdgeclError -> its line and code; anything else -> one line + hint, or the traceback."""
import pytest
import typer
from typer.testing import CliRunner

from edgecl.cli.console import one_line_errors
from edgecl.errors import ExportFailed, UsageError

app = typer.Typer()


@app.command()
@one_line_errors
def boom(kind: str) -> None:
    if kind == "usage":
        raise UsageError("bad option --x: use --y")
    if kind == "export":
        raise ExportFailed("int8 failed its gate")
    raise KeyError("surprise")


@pytest.mark.parametrize("kind, code, text", [("usage", 2, "error: bad option --x: use --y"),
                                              ("export", 1, "error: int8 failed its gate"),
                                              ("other", 1, "error: KeyError: 'surprise' (set EDGECL_DEBUG=1")])
def test_one_line_and_exit_code(kind, code, text, monkeypatch):
    monkeypatch.delenv("EDGECL_DEBUG", raising=False)
    res = CliRunner().invoke(app, [kind])
    assert res.exit_code == code and text in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_debug_shows_the_unexpected_exception(monkeypatch):
    monkeypatch.setenv("EDGECL_DEBUG", "1")
    res = CliRunner().invoke(app, ["other"])
    assert res.exit_code == 1 and isinstance(res.exception, KeyError)
