"""The exporter's half of the update's golden set: how many new rows it takes (needs the exporter;
the torch-free half is tests/runtime/update/test_golden_pack.py)."""
import numpy as np


def test_new_golden_rows_are_capped_by_count_and_bytes():
    from edgecl.exporters.update_package import NEW_GOLDEN, new_golden_rows

    small = {"task_ids": np.repeat([1, 2, 3], 40), "inputs": np.zeros((120, 1, 28, 28), np.float32)}
    rows = new_golden_rows(small, base_task=1)
    assert len(rows) == NEW_GOLDEN and small["task_ids"][rows].min() == 2
    big = {"task_ids": np.repeat([1, 2], 40), "inputs": np.zeros((80, 3, 224, 224), np.float32)}
    assert len(new_golden_rows(big, base_task=1)) == 13
