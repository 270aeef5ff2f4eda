"""``serve`` reads only allowed files, within per-request and per-line limits.

Each test is one probe from the issue, replayed against the server (or the CLI) and answered
with an error object instead of a file walk, a read outside the allowed folders, or unbounded
memory.
"""
import json

import pytest
from typer.testing import CliRunner

from edgecl_runtime.cli import app
from edgecl_runtime.serve import ModelServer
from edgecl_runtime.serve.lines import read_lines
from tests.runtime.rt_factory import make_bundle
from tests.runtime.serve.helpers import gray_png, serve_lines


@pytest.fixture
def run(tmp_path):
    make_bundle(tmp_path / "run" / "task-01" / "export", task=1)
    return tmp_path / "run"


def _server(run, **kw):
    server = ModelServer(run, log=lambda msg: None, **kw)
    server.start()
    server.stop()  # requests are answered by the caller's thread; no watcher needed
    return server


def test_directory_is_refused_not_expanded(run, tmp_path):
    """{"images": ["/usr/share"]} walked ~50,000 files; now a folder is one error, nothing opened."""
    folder = tmp_path / "imgs"
    for i in range(3):
        gray_png(folder / "sub" / f"{i}.png")
    server = _server(run, allow=[tmp_path])
    one = server.handle({"id": 1, "image": str(folder)})
    assert "is a folder" in one["error"] and "predictions" not in one
    many = server.handle({"id": 2, "images": [str(folder), str(folder / "sub")]})
    assert "is a folder" in many["error"] and "predictions" not in many


def test_outside_allow_same_message_whether_it_exists_or_not(run, tmp_path):
    allowed = tmp_path / "allowed"
    gray_png(allowed / "ok.png")
    real = gray_png(tmp_path / "secret" / "x.png")
    missing = tmp_path / "secret" / "y.png"
    server = _server(run, allow=[allowed])
    errors = {p: server.handle({"id": 1, "image": str(p)})["error"] for p in (real, missing)}
    assert errors[real].replace(str(real), "P") == errors[missing].replace(str(missing), "P")
    assert "outside the folders" in errors[real]
    assert "predictions" in server.handle({"id": 2, "image": str(allowed / "ok.png")})


def test_escapes_from_allowed_folder_are_refused(run, tmp_path):
    """``..`` and a symlink inside the allowed folder are resolved before the check."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    secret = gray_png(tmp_path / "secret.png")
    (allowed / "link.png").symlink_to(secret)
    server = _server(run, allow=[allowed])
    for name in (str(allowed / ".." / "secret.png"), str(allowed / "link.png")):
        assert "outside the folders" in server.handle({"id": 1, "image": name})["error"]


def test_default_allow_is_current_folder(run, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    gray_png(cwd / "in.png")
    outside = gray_png(tmp_path / "out.png")
    monkeypatch.chdir(cwd)
    server = _server(run)
    assert "predictions" in server.handle({"id": 1, "image": "in.png"})
    assert "predictions" in server.handle({"id": 2, "image": str(cwd / "in.png")})
    assert "outside the folders" in server.handle({"id": 3, "image": str(outside)})["error"]


def test_special_files_are_refused(run, tmp_path):
    """A FIFO inside the allowed folder would block the server on open; it is never opened."""
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    server = _server(run, allow=[tmp_path])
    assert "not a regular file" in server.handle({"id": 1, "image": str(fifo)})["error"]


def test_more_images_than_the_cap_is_an_error(run, tmp_path):
    img = gray_png(tmp_path / "a.png")
    server = _server(run, allow=[tmp_path], max_images=3)
    over = server.handle({"id": 1, "images": [str(img)] * 4})
    assert over["id"] == 1 and "over the limit of 3" in over["error"] and "--max-images" in over["error"]
    assert len(server.handle({"id": 2, "images": [str(img)] * 3})["predictions"]) == 3


def test_over_long_line_is_answered_and_next_line_still_served(run):
    server = _server(run, max_line_bytes=1024)
    long = json.dumps({"id": 1, "image": "x" * 5000}).encode()
    answers = serve_lines(server, [long, b'{"id": 2, "cmd": "status"}'])
    assert len(answers) == 2
    assert "over the limit of 1024" in answers[0]["error"] and answers[1]["task"] == 1


class _Recording:
    """A binary stream that records the largest ``readline`` limit it was asked for."""

    def __init__(self, data: bytes) -> None:
        import io

        self.inner, self.largest = io.BytesIO(data), 0

    def readline(self, limit: int = -1) -> bytes:
        assert limit > 0, "an unbounded readline would buffer a whole line"
        self.largest = max(self.largest, limit)
        return self.inner.readline(limit)


def test_line_reader_memory_is_bounded():
    """A 300 MiB line took the process to 778 MB; no read may now exceed the cap (+1 byte)."""
    stream = _Recording(b"[" * (8 << 20) + b"\n" + b"{}\n")
    lines = list(read_lines(stream, max_bytes=4096))
    assert [line.oversized for line in lines] == [(8 << 20) + 1, 0] and lines[1].data == b"{}"
    assert stream.largest <= 1 << 16


def test_cli_allow_and_caps(run, tmp_path):
    allowed = tmp_path / "allowed"
    img = gray_png(allowed / "a.png")
    lines = [json.dumps({"id": 1, "image": str(img)}),
             json.dumps({"id": 2, "images": [str(img)] * 3}),
             json.dumps({"id": 3, "image": str(tmp_path / "run" / "task-01" / "export" / "manifest.json")}),
             "x" * 300]
    res = CliRunner().invoke(app, ["serve", str(run), "--allow", str(allowed), "--max-images", "2",
                                   "--max-line-bytes", "256"], input="\n".join(lines) + "\n")
    assert res.exit_code == 0, res.output
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["id"] for r in out] == [1, 2, 3, None]
    assert "predictions" in out[0] and "over the limit of 2" in out[1]["error"]
    assert "outside the folders" in out[2]["error"] and "over the limit of 256" in out[3]["error"]
