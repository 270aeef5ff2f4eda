"""Which tasks a ``learn`` call may learn, given what the store already holds.

Tasks are learned strictly in order: task t starts from task t-1 on disk. A finished task is
only relearned when asked (``force``), and then every later task is discarded with it, because
they were built on top of it.
"""
from __future__ import annotations

from edgecl.errors import UsageError


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
