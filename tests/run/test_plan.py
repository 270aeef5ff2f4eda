"""Which tasks ``edgecl learn`` runs: tasks are learned in order, and relearning a learned task
(which discards it and every later task) needs --force (``edgecl/run/plan.py``'s docstring)."""
import pytest

from edgecl.errors import UsageError
from edgecl.run.plan import tasks_to_learn


def test_the_next_task_or_all_remaining_ones():
    assert tasks_to_learn([1, 2], 5, None, False, False) == [3]
    assert tasks_to_learn([1, 2], 5, None, True, False) == [3, 4, 5]
    assert tasks_to_learn([1, 2, 3], 3, None, True, False) == []
    assert tasks_to_learn([1, 2], 5, 3, False, False) == [3]


@pytest.mark.parametrize("task", [4, 5])
def test_a_task_past_the_next_one_is_refused(task):
    with pytest.raises(UsageError, match=f"task {task} needs task {task - 1} first"):
        tasks_to_learn([1, 2], 5, task, False, False)


def test_relearning_a_learned_task_needs_force():
    with pytest.raises(UsageError, match="--force"):
        tasks_to_learn([1, 2], 5, 2, False, False)
    assert tasks_to_learn([1, 2], 5, 2, False, True) == [2]
