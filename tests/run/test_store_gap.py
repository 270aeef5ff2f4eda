"""The run store never deletes finished work by accident: a task without a record strands the later
finished tasks (seen, not deleted), only record-less folders are discarded without --force, and a
task folder that appears while a task is being written is kept and refused, never replaced."""
from __future__ import annotations

import json

import pytest

from edgecl.errors import StoreError
from edgecl.run.plan import check_stranded
from edgecl.run.store import RunStore


def _task(store: RunStore, task: int, record: bool = True) -> None:
    folder = store.task_dir(task)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")
    if record:
        (folder / "record.json").write_text(json.dumps({"task": task, "files": {}}))


@pytest.fixture
def gapped(tmp_path):
    """Tasks 1, 2, 4, 5 finished; task 3's record is missing."""
    store = RunStore(tmp_path / "run")
    for t in (1, 2, 4, 5):
        _task(store, t)
    _task(store, 3, record=False)
    return store


def test_later_finished_tasks_are_stranded_not_forgotten(gapped):
    assert gapped.finished_tasks() == [1, 2]
    assert gapped.stranded_tasks() == [4, 5]


def test_learning_the_gap_is_refused_without_force(gapped):
    with pytest.raises(StoreError, match="--force") as info:
        check_stranded(gapped, [3], force=False)
    assert "tasks 4, 5 are finished" in str(info.value) and "\n" not in str(info.value)
    assert check_stranded(gapped, [3], force=True) == [4, 5]


def test_discarding_without_force_removes_only_record_less_folders(gapped):
    _task(gapped, 6, record=False)
    assert gapped.discard_from(3, keep_recorded=True) == [3, 6]
    assert [p.name for p in sorted(gapped.root.glob("task-*"))] == ["task-01", "task-02", "task-04", "task-05"]


def test_a_corrupt_later_record_is_not_a_finished_task(gapped):
    (gapped.task_dir(5) / "record.json").write_text("{not json")
    assert gapped.stranded_tasks() == [4]


def test_a_task_folder_that_appears_while_writing_is_kept(tmp_path):
    store = RunStore(tmp_path / "run")
    _task(store, 1)
    with pytest.raises(StoreError, match="appeared while task 2"):
        with store.writing_task(2) as tmp:
            (tmp / "weights.bin").write_bytes(b"new")
            store.task_dir(2).mkdir()  # another writer, between the check and the publish
            (store.task_dir(2) / "theirs").write_text("keep me")
    assert (store.task_dir(2) / "theirs").read_text() == "keep me"
    assert sorted(p.name for p in store.task_dir(2).iterdir()) == ["theirs"]
    assert not list(store.root.glob(".task-02.*"))
