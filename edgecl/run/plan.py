"""Which tasks a ``learn`` call may learn, given what the store already holds.

Tasks are learned strictly in order: task t starts from task t-1 on disk. A finished task is
only relearned when asked (``force``), and then every later task is discarded with it, because
they were built on top of it. The same holds for finished tasks stranded behind a task whose
record is missing (:func:`check_stranded`): they are never discarded without ``force``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from edgecl.errors import StoreError, UsageError

if TYPE_CHECKING:
    from edgecl.run.store import RunStore


def tasks_to_learn(finished: list[int], total: int, task: int | None, all_tasks: bool, force: bool) -> list[int]:
    """The tasks to learn now (empty: nothing left); one-line UsageError for an impossible request."""
    nxt = len(finished) + 1
    if task is not None and all_tasks:
        raise UsageError("give either --task N or --all, not both")
    if task is None:
        if nxt > total:
            return []
        return list(range(nxt, total + 1)) if all_tasks else [nxt]
    if not 1 <= task <= total:
        raise UsageError(f"task {task} does not exist: this run has tasks 1..{total}")
    if task > nxt:
        raise UsageError(f"task {task} needs task {task - 1} first: the next task to learn is {nxt}")
    if task in finished and not force:
        raise UsageError(f"task {task} is already learned: add --force to discard tasks {task}..{len(finished)} "
                         "and relearn it")
    return [task]


def check_stranded(store: "RunStore", todo: list[int], force: bool) -> list[int]:
    """Finished tasks after ``todo[0]`` that learning it would discard (see
    :meth:`edgecl.run.store.RunStore.stranded_tasks`); a one-line StoreError unless ``force``."""
    stranded = [t for t in store.stranded_tasks() if todo and t > todo[0]]
    if stranded and not force:
        gap = store.next_task()
        shown = ", ".join(str(t) for t in stranded)
        raise StoreError(f"tasks {shown} are finished but task {gap} has no record.json "
                         f"({store.task_dir(gap) / 'record.json'}), and they were learned from it: restore that "
                         f"file to keep them, or add --force to discard tasks {todo[0]}..{stranded[-1]} and relearn")
    return stranded
