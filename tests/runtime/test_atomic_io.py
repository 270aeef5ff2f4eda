"""The atomic writer's contract, tested on its own: old content or complete new content, never half.

Every record, manifest, bundle and run folder is written through ``atomic_io``; these tests pin
the mechanism itself (temporary name beside the target, fsync before the rename, no leftovers,
modes) rather than the code paths that call it.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from edgecl_runtime import atomic_io
from edgecl_runtime.atomic_io import (atomic_path, read_json, savez_atomic, sha256_file, staged_dir,
                                      write_bytes_atomic, write_json_atomic)


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_a_write_that_fails_half_way_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "model.json"
    target.write_bytes(b"old content")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"half of the new")
            raise RuntimeError("disk full half-way")
    assert target.read_bytes() == b"old content"
    assert _leftovers(tmp_path, {"model.json"}) == []


def test_a_failed_rename_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "manifest.json"
    target.write_bytes(b"old")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(atomic_io.os, "replace", refuse)
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"new bytes that must not appear in place")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path, {"manifest.json"}) == []


def test_content_is_synced_under_a_temporary_name_beside_the_target_before_the_rename(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "golden.npz"
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def spy_fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def spy_replace(src, dst):
        events.append(("replace", str(src)))
        assert Path(dst) == target
        assert Path(src).parent == target.parent  # same folder: the rename is atomic
        assert Path(src).read_bytes() == b"payload"  # complete before it becomes visible
        assert not target.exists()
        return real_replace(src, dst)
    monkeypatch.setattr(atomic_io.os, "fsync", spy_fsync)
    monkeypatch.setattr(atomic_io.os, "replace", spy_replace)
    write_bytes_atomic(target, b"payload")
    kinds = [k for k, _ in events]
    assert kinds == ["fsync", "replace"], events
    assert events[0][1] == events[1][1] != str(target)  # the temp file was synced, then renamed
    assert target.read_bytes() == b"payload"


def test_modes_follow_the_umask_and_private_keys_stay_private(tmp_path):
    old = os.umask(0o022)
    try:
        pub = write_bytes_atomic(tmp_path / "a.pub", b"k")
        key = write_bytes_atomic(tmp_path / "a.key", b"k", mode=0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_published_folder_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with staged_dir(tmp_path / "export") as stage:
            (stage / "a").write_text("1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "export").stat().st_mode) == 0o750


def test_json_with_nan_or_infinity_is_refused_and_nothing_is_written(tmp_path):
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            write_json_atomic(tmp_path / "r.json", {"x": bad})
    assert list(tmp_path.iterdir()) == []
    write_json_atomic(tmp_path / "r.json", {"x": 1.5})
    assert json.loads((tmp_path / "r.json").read_text()) == {"x": 1.5}


def test_object_arrays_are_refused_because_loading_them_needs_pickle(tmp_path):
    with pytest.raises(ValueError, match="pickle"):
        savez_atomic(tmp_path / "g.npz", a=np.array([{"x": 1}], dtype=object))
    assert list(tmp_path.iterdir()) == []


def test_staged_folder_appears_whole_or_not_at_all(tmp_path):
    final = tmp_path / "task-01"
    with pytest.raises(RuntimeError):
        with staged_dir(final) as stage:
            (stage / "a").write_text("1")
            raise RuntimeError("kill in the middle")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with staged_dir(final) as stage:
        (stage / "a").write_text("1")
    assert (final / "a").read_text() == "1"


def test_staged_folder_replaces_an_old_one_in_one_step_and_cleans_up(tmp_path):
    final = tmp_path / "export"
    final.mkdir()
    (final / "old").write_text("old")
    with staged_dir(final) as stage:
        (stage / "new").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == ["new"]
    assert _leftovers(tmp_path, {"export"}) == []


def test_a_failed_replacement_leaves_the_old_folder_untouched(tmp_path):
    final = tmp_path / "export"
    final.mkdir()
    (final / "old").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_dir(final) as stage:
            (stage / "new").write_text("new")
            raise RuntimeError("gate failed")
    assert sorted(p.name for p in final.iterdir()) == ["old"]
    assert _leftovers(tmp_path, {"export"}) == []


def test_no_replace_mode_refuses_an_existing_folder(tmp_path):
    final = tmp_path / "NEW"
    final.mkdir()
    with pytest.raises(FileExistsError):
        with staged_dir(final, replace=False):
            pass  # pragma: no cover - the check comes first
    assert list(final.iterdir()) == []


def test_read_json_names_what_is_missing_or_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match="run record not found"):
        read_json(tmp_path / "run.json", "run record")
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match="run record is corrupt"):
        read_json(tmp_path / "run.json", "run record")


def test_sha256_covers_every_chunk(tmp_path):
    path = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 + 17)
    path.write_bytes(data)
    import hashlib
    assert sha256_file(path, chunk=1024) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # only the last chunk differs
    assert sha256_file(path, chunk=1024) != hashlib.sha256(data).hexdigest()
