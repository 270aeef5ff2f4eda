"""The run store: ``RUN/run.json``, ``RUN/task-NN/`` (1-based, two digits), ``RUN/metrics.json``.

A task folder is built under a hidden temp name and renamed into place only when complete, and
its ``record.json`` lists every file with its sha256; so a process killed at any moment (kill -9)
leaves either the finished task or nothing (its hidden temp folder is removed by the next call:
:func:`edgecl.run.bundles.clean_leftovers`), and a damaged file is caught on load. The rename never
replaces anything: a ``task-NN`` that appears meanwhile is refused and kept, not deleted.

A task without a record ends :meth:`RunStore.finished_tasks`; later tasks with valid records
(:meth:`RunStore.stranded_tasks`) are finished work built on it, which nothing deletes without
``--force``.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from edgecl_runtime.atomic_io import PARTIAL, read_json, sha256_file, staged_dir, write_json_atomic
from edgecl.config import RunConfig
from edgecl.errors import StoreError

RUN_FILE = "run.json"
RECORD = "record.json"
STORE_VERSION = 1


def task_dirname(task: int) -> str:
    return f"task-{task:02d}"


class RunStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # --- run-level ---------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.root / RUN_FILE).is_file()

    def create(self, config: RunConfig, meta: dict[str, Any]) -> dict[str, Any]:
        """Write run.json for a new run; returns its contents exactly as reading the file gives them."""
        if self.exists():
            raise StoreError(f"a run already exists at {self.root}")
        if self.root.exists() and any(p for p in self.root.iterdir() if not p.name.startswith(".")):
            raise StoreError(f"{self.root} exists and is not an edgecl run: choose an empty or new --run DIR")
        data = {"store_version": STORE_VERSION, "config": config.to_dict(), **meta}
        write_json_atomic(self.root / RUN_FILE, data)
        return json.loads(json.dumps(data))  # tuples become lists, as in the file

    def read_run(self) -> dict[str, Any]:
        data = read_json(self.root / RUN_FILE, "run.json")
        if data.get("store_version", 0) > STORE_VERSION:
            raise StoreError(f"{self.root} was written by a newer edgecl (store v{data['store_version']}): upgrade edgecl")
        return data

    def config(self) -> RunConfig:
        return RunConfig.from_dict(self.read_run()["config"])

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive, non-blocking lock: two ``learn`` on one run at once are refused."""
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise StoreError(f"run {self.root} is locked by {holder}: wait for it to finish") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    # --- tasks -------------------------------------------------------------------------------
    def task_dir(self, task: int) -> Path:
        return self.root / task_dirname(task)

    def finished_tasks(self) -> list[int]:
        """Tasks 1..k whose folder has a record (a gap ends the list: later folders are stale)."""
        done = []
        task = 1
        while (self.task_dir(task) / RECORD).is_file():
            done.append(task)
            task += 1
        return done

    def next_task(self) -> int:
        return len(self.finished_tasks()) + 1

    def _task_folders(self) -> list[tuple[int, Path]]:
        """(task, folder) of every ``task-NN`` entry of the run, in task order."""
        found = []
        for path in self.root.glob("task-[0-9][0-9]*"):
            number = path.name.split("-", 1)[1]
            if number.isdigit():
                found.append((int(number), path))
        return sorted(found)

    def has_valid_record(self, task: int) -> bool:
        """Whether ``task-NN/record.json`` is a readable record (an object listing its files)."""
        try:
            record = read_json(self.task_dir(task) / RECORD, f"record of task {task}")
        except (OSError, ValueError):
            return False
        return isinstance(record, dict) and isinstance(record.get("files"), dict)

    def stranded_tasks(self) -> list[int]:
        """Tasks after the first gap (a task without a record) that hold a valid record of their own.

        :meth:`finished_tasks` stops at the gap, so these are finished work the run cannot reach:
        they were learned on top of the task whose record is missing, and relearning that task
        would discard them. ``learn`` refuses to (unless ``--force``) and ``status`` shows them.
        """
        gap = self.next_task()
        return [t for t, _ in self._task_folders() if t > gap and self.has_valid_record(t)]

    def discard_from(self, task: int, keep_recorded: bool = False) -> list[int]:
        """Delete task ``task`` and every later task (``--force``); returns what was removed.

        ``keep_recorded``: delete only the folders without a valid record (a task folder a killed
        write left incomplete), never a finished task's.
        """
        removed = []
        for number, path in self._task_folders():
            if number >= task and not (keep_recorded and self.has_valid_record(number)):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(number)
        return removed

    @contextmanager
    def writing_task(self, task: int, extra: dict[str, Any] | None = None) -> Iterator[Path]:
        """A temp folder to fill; on success it gets its record (plus ``extra``) and is renamed to task-NN."""
        final = self.task_dir(task)
        if os.path.lexists(final):
            raise StoreError(f"{final} already exists; use --force to relearn task {task}")
        try:
            with staged_dir(final, replace=False) as tmp:  # published without replacing anything
                yield tmp
                files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
                         for p in sorted(tmp.rglob("*")) if p.is_file() and p.name != RECORD}
                write_json_atomic(tmp / RECORD, {"task": task, "files": files, **(extra or {})})
        except FileExistsError:
            if not os.path.lexists(final):
                raise
            raise StoreError(f"{final} appeared while task {task} was being learned; it was left as it is and "
                             f"this task was not saved: remove or rename it, then learn task {task} again") from None

    def record(self, task: int) -> dict[str, Any]:
        return read_json(self.task_dir(task) / RECORD, f"record of task {task}")

    def verified_path(self, task: int, name: str) -> Path:
        """Path of a task file after checking its sha256 against the task's record."""
        entry = self.record(task)["files"].get(name)
        path = self.task_dir(task) / name
        if entry is None:
            raise StoreError(f"task {task} has no {name} in its record: relearn it with --task {task} --force")
        if not path.is_file():
            raise StoreError(f"{path} is missing: relearn task {task} with --task {task} --force")
        if sha256_file(path) != entry["sha256"]:
            raise StoreError(f"{path} does not match its checksum (corrupt or edited): "
                             f"relearn task {task} with --task {task} --force")
        return path
