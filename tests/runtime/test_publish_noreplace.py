"""The no-replace publish of the ground floor: a folder that appears at the destination while another is
staged is refused and kept (never deleted), with renameat2 and with the locked fallback; staging
folders name their writer, and only a dead writer's are removed."""
from __future__ import annotations

import os
import threading

import pytest

from edgecl_runtime import atomic_io
from edgecl_runtime.atomic_io import (clean_stale_partials, clean_stale_partials_in, rename_noreplace,
                                      staged_dir)


@pytest.fixture(params=["renameat2", "lock"])
def method(request, monkeypatch):
    if request.param == "renameat2" and atomic_io._RENAMEAT2 is None:
        pytest.skip("this libc has no renameat2")
    if request.param == "lock":
        monkeypatch.setattr(atomic_io, "_RENAMEAT2", None)
    return request.param


def test_rename_noreplace_refuses_any_existing_name(tmp_path, method):
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "empty").mkdir()  # os.rename would silently replace an empty folder
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for name in ("empty", "dangling"):
        with pytest.raises(FileExistsError):
            rename_noreplace(src, tmp_path / name)
    assert (tmp_path / "empty").is_dir() and (tmp_path / "dangling").is_symlink() and src.is_dir()
    assert rename_noreplace(src, tmp_path / "dst") == method
    assert (tmp_path / "dst").is_dir() and not src.exists()


def test_a_folder_that_appears_during_staging_is_kept(tmp_path, method):
    final = tmp_path / "task-03"
    with pytest.raises(FileExistsError):
        with staged_dir(final, replace=False) as stage:
            (stage / "mine.txt").write_text("new")
            final.mkdir()  # another writer publishes first (an empty folder: the hardest case)
    assert final.is_dir() and list(final.iterdir()) == []
    assert not list(tmp_path.glob(".task-03.*"))


def test_the_rename_races_with_a_thread_publishing_at_the_same_name(tmp_path, method):
    """Two writers at once: exactly one publishes, the other is refused; bounded by events, not sleeps."""
    final = tmp_path / "NEW"
    ready, go = threading.Barrier(2), threading.Event()
    outcomes = []

    def writer(tag):
        try:
            with staged_dir(final, replace=False) as stage:
                (stage / "who").write_text(tag)
                ready.wait(timeout=10)
                go.wait(timeout=10)
            outcomes.append(tag)
        except FileExistsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(timeout=20)
    assert sorted(outcomes)[1] == "refused" and sorted(outcomes)[0] in "ab"
    assert (final / "who").read_text() == sorted(outcomes)[0]


def test_staging_folders_carry_the_writers_pid(tmp_path):
    with staged_dir(tmp_path / "out", replace=False) as stage:
        assert stage.name.startswith(f".out.partial-{os.getpid()}-")


def test_only_dead_writers_staging_folders_are_removed(tmp_path):
    dead = tmp_path / ".NEW.partial-999999999-x"
    legacy = tmp_path / ".NEW.partial-ab12cd"
    live = tmp_path / f".NEW.partial-{os.getpid()}-y"
    other = tmp_path / ".OTHER.partial-999999999-z"
    link = tmp_path / ".NEW.partial-999999998-l"
    for folder in (dead, legacy, live, other):
        folder.mkdir()
    link.symlink_to(other)
    assert sorted(clean_stale_partials(tmp_path / "NEW")) == sorted([dead, legacy])
    assert live.is_dir() and other.is_dir() and link.is_symlink()
    assert clean_stale_partials_in(tmp_path) == [other]
    assert live.is_dir() and link.is_symlink()
