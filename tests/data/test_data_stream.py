"""Class-incremental split and per-task sample selection."""
import numpy as np
import pytest

from edgecl.data.imageset import ArrayImageSet
from edgecl.data.stream import class_order, seen_classes, split_classes, task_indices


def test_natural_order_equal_groups():
    assert split_classes(10, 5) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert split_classes(6, 1) == [[0, 1, 2, 3, 4, 5]]


def test_shuffle_is_reproducible_and_seed_dependent():
    a = split_classes(100, 10, shuffle_seed=1993)
    assert a == split_classes(100, 10, shuffle_seed=1993)
    assert a != split_classes(100, 10, shuffle_seed=1994)
    flat = [c for g in a for c in g]
    assert sorted(flat) == list(range(100)) and flat != list(range(100))
    assert all(len(g) == 10 for g in a)
    # pinned literals (recorded once): a run's class order must not change silently between versions
    assert class_order(10, shuffle_seed=0) == [4, 6, 2, 7, 3, 5, 9, 0, 8, 1]
    assert split_classes(20, 4, shuffle_seed=1993) == [[0, 4, 8, 2, 14], [12, 18, 19, 11, 9],
                                                        [13, 16, 6, 15, 3], [5, 17, 10, 7, 1]]


@pytest.mark.parametrize("n, t", [(10, 3), (10, 0), (0, 2), (7, 14)])
def test_bad_split_is_rejected(n, t):
    with pytest.raises(ValueError):
        split_classes(n, t)


def test_task_indices_ascending_and_exact():
    labels = np.array([3, 0, 1, 3, 2, 0, 1, 2, 3])
    s = ArrayImageSet(np.zeros((len(labels), 2, 2), np.uint8), labels)
    idx = task_indices(s, [3, 1])
    assert idx.dtype == np.int64
    assert idx.tolist() == [0, 2, 3, 6, 8]
    assert task_indices(s, []).tolist() == []


def test_seen_classes():
    tasks = split_classes(6, 3, shuffle_seed=5)
    assert seen_classes(tasks, 2) == tasks[0] + tasks[1]
    with pytest.raises(ValueError, match="out of range"):
        seen_classes(tasks, 4)
