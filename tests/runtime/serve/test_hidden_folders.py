"""Serve never serves from a hidden folder (a staging folder sorts before the real one and looks
complete), removes the staging folders a killed writer left when it starts, and refuses a request
line that gives a key twice."""
from __future__ import annotations

import json
import os

from edgecl_runtime.serve import ModelServer, find_bundles
from edgecl_runtime.serve.updates import UpdateApplier
from tests.runtime.rt_factory import make_bundle
from tests.runtime.serve.helpers import LogWatch, serve_lines


def test_a_staging_folder_of_a_flat_models_folder_is_never_a_candidate(tmp_path):
    make_bundle(tmp_path / ".task-02.partial-4242-abcd", task=2)  # what a killed `update` leaves
    make_bundle(tmp_path / ".hidden", task=3)
    make_bundle(tmp_path / "task-01", task=1)
    assert [(t, p.name) for t, p in find_bundles(tmp_path)] == [(1, "task-01")]


def test_serve_start_removes_dead_writers_staging_folders_only(tmp_path):
    make_bundle(tmp_path / "task-01", task=1)
    dead = make_bundle(tmp_path / ".task-02.partial-999999999-abcd", task=2)
    live = tmp_path / f".task-02.partial-{os.getpid()}-efgh"
    live.mkdir()
    log = LogWatch()
    server = ModelServer(tmp_path, poll_s=60, log=log)
    try:
        server.start()
        assert server.served.task == 1
    finally:
        server.stop()
    assert not dead.exists() and live.is_dir()
    assert log.count("removed") == 1


def test_an_update_in_a_hidden_folder_is_not_applied(tmp_path):
    make_bundle(tmp_path / "task-01", task=1)
    hidden = tmp_path / ".copying"
    hidden.mkdir()
    (hidden / "update.json").write_text(json.dumps({"task": 2, "base": {"manifest_sha256": "0"}}))
    log = LogWatch()
    applier = UpdateApplier(tmp_path, log)
    assert applier.apply_pending(find_bundles(tmp_path)) == []
    assert log.count(".copying") == 0


def test_a_request_giving_a_key_twice_is_an_error_object(tmp_path):
    make_bundle(tmp_path / "task-01", task=1)
    server = ModelServer(tmp_path, poll_s=60, log=LogWatch())
    try:
        server.start()
        answers = serve_lines(server, [b'{"id": 1, "cmd": "status", "cmd": "predict"}',
                                       b'{"id": 2, "cmd": "status"}'])
    finally:
        server.stop()
    assert "appears twice" in answers[0]["error"], answers
    assert answers[1]["task"] == 1
