"""Trust that holds in serve: pinning, bounded path checks, no swap between check and open.

Race tests make the swap deterministic: ``AllowedRoots.resolve`` (the check) is wrapped so that
the file is replaced right after it returns and before the file is opened; no thread races
another. The only waits are safety nets on an Event (a hang fails the test, nothing sleeps).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from edgecl_runtime.bundle.signing import generate_keypair, load_trust, sign_bundle
from edgecl_runtime.cli import app
from edgecl_runtime.errors import ImageError, RuntimeFailure
from edgecl_runtime.serve import AllowedRoots, ModelServer, find_bundles
from edgecl_runtime.serve import paths as paths_mod
from tests.runtime.rt_cli import runner
from tests.runtime.rt_factory import make_bundle
from tests.runtime.serve.helpers import gray_png, publish

SAFETY_S = 60.0


def _started(run: Path, **kw) -> tuple[ModelServer, list]:
    logs: list = []
    server = ModelServer(run, log=logs.append, **kw)
    assert server.refresh() and server.served is not None
    return server, logs


def test_another_runs_bundle_signed_by_the_same_key_is_not_swapped_to(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1, run="mine")
    server, logs = _started(run)
    assert "pinned to run 'mine'" in logs[-1]
    make_bundle(run / "task-02" / "export", task=2, run="theirs", classes=["a", "b", "c", "d"])
    assert server.refresh() is False and server.served.task == 1
    assert any("pinned to run 'mine'" in line and "task 2" in line for line in logs)


def test_second_bundle_of_the_same_task_is_never_swapped_to(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    server, _ = _started(run)
    make_bundle(run / "a-sorts-first", task=1, created="2030-01-01T00:00:00Z", classes=["x", "y", "z", "w"])
    assert server.refresh() is False and server.served.classifier.classes[0] == "t1c0"


def test_newer_task_created_earlier_is_refused(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1, created="2025-06-01T00:00:00Z")
    server, logs = _started(run)
    publish(run, 2, created="2025-01-01T00:00:00+00:00")
    assert server.refresh() is False and server.served.task == 1
    assert any("no later than the served" in line for line in logs)
    publish(run, 3, created="2025-07-01T00:00:00Z")
    assert server.refresh() is True and server.served.task == 3


def test_bundle_signed_by_another_trusted_key_is_not_swapped_to(tmp_path):
    run = tmp_path / "run"
    key_a, _ = generate_keypair(tmp_path / "keys" / "a")
    key_b, pub_b = generate_keypair(tmp_path / "keys" / "b")
    (tmp_path / "trust").mkdir()
    for name in ("a", "b"):
        os.link(tmp_path / "keys" / name / "edgecl-sign.pub", tmp_path / "trust" / f"{name}.pub")
    sign_bundle(make_bundle(run / "task-01" / "export", task=1), key_a)
    server, _ = _started(run, trusted=load_trust(tmp_path / "trust"))
    sign_bundle(publish(run, 2), key_b)
    assert server.refresh() is False and server.served.task == 1
    sign_bundle(publish(run, 3), key_a)
    assert server.refresh() is True and server.served.task == 3


def test_dot_folders_are_never_candidates(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export", task=1)
    make_bundle(run / ".task-02.partial-x", task=2)
    make_bundle(run / ".hidden" / "export", task=3)
    assert [t for t, _ in find_bundles(run)] == [1]


@pytest.mark.parametrize("name", ["a/" * 150_000 + "x.png", "a/" * 300 + "x.png", "é" * 2100])
def test_long_or_deep_paths_are_refused_before_resolving(tmp_path, monkeypatch, name):
    roots = AllowedRoots([tmp_path])

    def no_resolution(*args, **kw):
        raise AssertionError("resolved a path that should have been refused first")

    monkeypatch.setattr(paths_mod.os.path, "realpath", no_resolution)
    with pytest.raises(ImageError, match="over the limit of") as err:
        roots.resolve(name)
    assert len(str(err.value)) < 400  # the name is shortened in the reply


def _server_with_image(tmp_path: Path) -> tuple[ModelServer, Path, Path]:
    run, allowed = tmp_path / "run", tmp_path / "allowed"
    make_bundle(run / "task-01" / "export", task=1)
    image = gray_png(allowed / "sub" / "a.png")
    outside = gray_png(tmp_path / "secret" / "s.png", value=3)
    server, _ = _started(run, allow=[allowed])
    return server, image, outside


def _swap_after_check(monkeypatch, swap) -> None:
    """Perform ``swap`` between AllowedRoots.resolve (the check) and the open that follows it."""
    original = AllowedRoots.resolve

    def check_then_swap(self, raw):
        real = original(self, raw)
        swap()
        return real

    monkeypatch.setattr(AllowedRoots, "resolve", check_then_swap)


def _answer(server: ModelServer, image: Path) -> dict:
    """The answer to one request, on a thread so that a hang fails the test instead of the run."""
    done, box = threading.Event(), {}

    def ask():
        box["answer"] = server.handle({"id": 1, "image": str(image)})
        done.set()

    threading.Thread(target=ask, daemon=True).start()
    finished = done.wait(SAFETY_S)
    if not finished:  # release a reader blocked on a FIFO, then fail
        os.close(os.open(image, os.O_WRONLY | os.O_NONBLOCK))
    assert finished, "serve hung on a file swapped in after the check"
    return box["answer"]


def test_fifo_swapped_in_after_the_check_does_not_hang(tmp_path, monkeypatch):
    server, image, _ = _server_with_image(tmp_path)

    def to_fifo():
        image.unlink()
        os.mkfifo(image)

    _swap_after_check(monkeypatch, to_fifo)
    answer = _answer(server, image)
    assert "not a regular file" in answer.get("error", ""), answer


@pytest.mark.parametrize("what", ["file", "folder"])
def test_symlink_swapped_in_after_the_check_is_not_followed(tmp_path, monkeypatch, what):
    server, image, outside = _server_with_image(tmp_path)

    def to_link():
        if what == "file":
            image.unlink()
            image.symlink_to(outside)
        else:
            moved = image.parent.with_name("moved")
            image.parent.rename(moved)
            (outside.parent / image.name).write_bytes(outside.read_bytes())
            image.parent.symlink_to(outside.parent, target_is_directory=True)

    _swap_after_check(monkeypatch, to_link)
    for _ in range(3):  # bounded count; each is deterministic
        answer = server.handle({"id": 1, "image": str(image)})
        assert "changed while it was being opened" in answer.get("error", ""), answer
        to_link_undo(image, outside, what)


def to_link_undo(image: Path, outside: Path, what: str) -> None:
    """Put the allowed file back so the next round checks a regular file again."""
    if what == "file":
        image.unlink()
        gray_png(image)
    else:
        image.parent.unlink()
        image.parent.with_name("moved").rename(image.parent)
        (outside.parent / image.name).unlink()


def test_default_allow_refuses_the_root_folder(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    with pytest.raises(RuntimeFailure, match="serve started in / without --allow"):
        AllowedRoots(None)
    assert AllowedRoots([str(tmp_path)]).roots  # an explicit folder is fine


def test_cli_serve_from_root_without_allow_is_one_line(tmp_path, monkeypatch):
    make_bundle(tmp_path / "run" / "task-01" / "export", task=1)
    monkeypatch.chdir("/")
    res = runner.invoke(app, ["serve", str(tmp_path / "run")], input="")
    lines = [l for l in res.stderr.strip().splitlines() if "warning" not in l]
    assert res.exit_code == 1 and len(lines) == 1 and "--allow FOLDER" in lines[0]


def test_cli_serve_warns_once_per_start_without_trust(tmp_path, monkeypatch):
    make_bundle(tmp_path / "run" / "task-01" / "export", task=1)
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["serve", str(tmp_path / "run")], input="")
    warnings = [l for l in res.stderr.splitlines() if "warning" in l]
    assert res.exit_code == 0 and len(warnings) == 1
    assert "golden set" in warnings[0] and "--trust" in warnings[0]
