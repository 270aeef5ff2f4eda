"""With and without --trust: no input line and no bad bundle stops ``serve``.

Every line gets exactly one answer (an error object for a bad one) and the next line is still
served; a malformed, altered, unsigned or wrongly signed bundle is skipped with one log line
(once per change of its files) while the best valid bundle keeps serving and later valid ones
are picked up. Watcher behaviour is driven with ``refresh()`` by hand: nothing waits on time.
"""
import json

import pytest
from typer.testing import CliRunner

from edgecl_runtime.cli import app
from edgecl_runtime.serve import ModelServer
from edgecl_runtime.bundle.signing import generate_keypair, sign_bundle
from tests.runtime.rt_factory import make_bundle
from tests.runtime.serve.helpers import LogWatch, count_polls, gray_png, publish, serve_lines

STATUS = b'{"id": "next", "cmd": "status"}'


def _answered_then_served(server, bad: bytes) -> dict:
    """Send one bad line and a status line: both answered, the second normally."""
    answers = serve_lines(server, [bad, STATUS])
    assert len(answers) == 2 and answers[1]["id"] == "next" and answers[1]["task"] == 1, answers
    return answers[0]


def test_thousand_brackets_is_an_error_object(server):
    """1,000 '[' raised RecursionError and ended the process."""
    assert "error" in _answered_then_served(server, b"[" * 1000)
    assert "error" in _answered_then_served(server, b"[" * 100_000)


def test_invalid_utf8_is_an_error_object(server):
    """An invalid UTF-8 byte raised UnicodeDecodeError and ended the process."""
    answer = _answered_then_served(server, b'{"id": 1, "image": "\xff.png"}')
    assert "not valid UTF-8" in answer["error"] and "0xff" in answer["error"]


@pytest.mark.parametrize("bad", [b"{oops", b"NaN", b'{"id": NaN}', b'{"id": [[1]], "cmd": "status"}',
                                 b'"just a string"', b'{"id": 1, "top_k": "many", "image": "a.png"}',
                                 b'{"id": 1, "image": 7}', b'{"id": 1, "images": [null, {}]}',
                                 b'{"id": 1, "image": "a\\u0000b.png"}', b"1" * 5000])
def test_other_bad_lines_are_error_objects(server, bad):
    assert "error" in _answered_then_served(server, bad)


def test_flood_with_bad_lines_loses_nothing(server, tmp_path):
    img = gray_png(tmp_path / "a.png")
    good = json.dumps({"id": 0, "image": str(img)}).encode()
    bad = [b"[" * 1000, b"\xff\xfe", b"{oops", b'{"id": 1, "image": "/etc/passwd"}', b"x" * (2 << 20)]
    lines = [bad[i // 10 % len(bad)] if i % 10 == 9 else good for i in range(200)]
    answers = serve_lines(server, lines)
    assert len(answers) == len(lines)
    assert sum("error" in a for a in answers) == 20 and sum("predictions" in a for a in answers) == 180


def test_cli_survives_bad_bytes(tmp_path):
    make_bundle(tmp_path / "run" / "task-01" / "export", task=1)
    data = b"[" * 1000 + b"\n\xff\xfe\n" + STATUS + b"\n"
    res = CliRunner().invoke(app, ["serve", str(tmp_path / "run")], input=data)
    assert res.exit_code == 0, res.output
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(out) == 3 and "error" in out[0] and "UTF-8" in out[1]["error"] and out[2]["task"] == 1


def _manifest(bundle):
    return json.loads((bundle / "manifest.json").read_text())


MALFORMED = {
    "not JSON": lambda m: "{not json",
    "a list": lambda m: "[1, 2]",
    "files a number": lambda m: json.dumps({**m, "files": 5}),
    "file entry a string": lambda m: json.dumps({**m, "files": {"model.onnx": "x"}}),
    "task infinite": lambda m: json.dumps(m).replace('"task": 2', '"task": 1e400'),
    "input a list": lambda m: json.dumps({**m, "input": []}),
    "output a string": lambda m: json.dumps({**m, "output": "logits"}),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_newest_manifest_at_start_up(tmp_path, kind):
    """A malformed newest manifest exited with a traceback; now: one log line, older one served."""
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    bad = make_bundle(run / "task-02" / "export", task=2)
    (bad / "manifest.json").write_text(MALFORMED[kind](_manifest(bad)))
    logs = []
    server = ModelServer(run, log=logs.append)
    server.start()
    server.stop()
    assert server.served.task == 1
    skipped = [line for line in logs if "skipping" in line]
    assert len(skipped) == 1 and "\n" not in skipped[0], logs
    assert server.refresh() is False and server.refresh() is False
    assert len([line for line in logs if "skipping" in line]) == 1, "logged once, not every poll"


def test_valid_newer_bundle_is_picked_up_past_a_bad_one(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    bad = make_bundle(run / "task-05" / "export", task=5)
    (bad / "manifest.json").write_text("[]")
    logs = []
    server = ModelServer(run, log=logs.append)
    server.start()
    server.stop()
    assert server.served.task == 1 and server.refresh() is False
    publish(run, 3)
    assert server.refresh() is True and server.served.task == 3
    assert sum("skipping task 5" in line for line in logs) == 1


def test_watcher_logs_a_bad_bundle_once_and_swaps_to_a_later_valid_one(tmp_path):
    """While running, a malformed newest manifest was logged every poll and blocked newer bundles."""
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    logs = LogWatch()
    server = ModelServer(run, poll_s=0.05, log=logs)
    server.start()
    polls = count_polls(server)
    try:
        staging = make_bundle(run / ".task-05.tmp" / "export", task=5)
        (staging / "manifest.json").write_text('{"task": 5, "files": ')
        (run / ".task-05.tmp").rename(run / "task-05")
        assert logs.wait_for("skipping task 5") and polls(3)
        publish(run, 3)
        assert logs.wait_for("serving task 3") and polls(3)
    finally:
        server.stop()
    assert server.served.task == 3 and logs.count("skipping task 5") == 1, logs.lines
    assert logs.count("watcher error") == 0


def test_text_stream_without_buffer_is_served(server):
    """The Python API still takes an io.StringIO; lone surrogates become an error object."""
    import io

    out = io.StringIO()
    assert server.serve(io.StringIO('{"id": 1, "image": "\udcff"}\n' + STATUS.decode() + "\n"), out) == 2
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert "UTF-8" in first["error"] and second["task"] == 1


def test_cli_starts_past_a_malformed_newest_manifest(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    (make_bundle(run / "task-02" / "export", task=2) / "manifest.json").write_text("{")
    res = CliRunner().invoke(app, ["serve", str(run)], input=STATUS.decode() + "\n")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["task"] == 1
    assert sum("skipping task 2" in line for line in res.stderr.splitlines()) == 1
    assert "Traceback" not in res.output


def _keys(tmp_path):
    good, _ = generate_keypair(tmp_path / "keys")
    other, _ = generate_keypair(tmp_path / "other")
    return good, other, tmp_path / "keys" / "edgecl-sign.pub"


def test_trust_refuses_unsigned_and_wrongly_signed_bundles(tmp_path):
    from edgecl_runtime.bundle.signing import load_trust

    good, other, pub = _keys(tmp_path)
    run = tmp_path / "run"
    sign_bundle(make_bundle(run / "task-01" / "export", task=1), good)
    unsigned = make_bundle(run / "task-02" / "export", task=2)
    sign_bundle(make_bundle(run / "task-03" / "export", task=3), other)
    altered = make_bundle(run / "task-04" / "export", task=4)
    sign_bundle(altered, good)
    (altered / "manifest.json").write_text(json.dumps({**_manifest(altered), "thresholds": {"fp32": {}}}))
    logs = []
    server = ModelServer(run, log=logs.append, trusted=load_trust(pub))
    server.start()
    server.stop()
    assert server.served.task == 1
    assert [sum(f"skipping task {t}" in line for line in logs) for t in (2, 3, 4)] == [1, 1, 1], logs
    assert any("not signed" in line for line in logs)
    assert server.refresh() is False
    sign_bundle(unsigned, good)  # the operator signs task 2: now it is trusted
    assert server.refresh() is True and server.served.task == 2


def test_cli_trust_without_signed_bundle_refuses_to_start(tmp_path):
    good, _, pub = _keys(tmp_path)
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    res = CliRunner().invoke(app, ["serve", str(run), "--trust", str(pub)], input="")
    assert res.exit_code == 1 and "not signed" in res.stderr and "no bundle" in res.stderr
    sign_bundle(run / "task-01" / "export", good)
    res = CliRunner().invoke(app, ["serve", str(run), "--trust", str(pub)], input=STATUS.decode() + "\n")
    assert res.exit_code == 0 and json.loads(res.stdout)["task"] == 1
    assert "signatures are not checked" not in res.stderr
