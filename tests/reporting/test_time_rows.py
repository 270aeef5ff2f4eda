"""The report's time table (``edgecl/reporting/collect.py``, ``time_rows``): the total is the sum
of the phases that ran, and InfLoRA's extra share counts only the work a plain fine-tuning of the
head would not do (statistics and the memory update), as a fraction of that total."""
import pytest

from edgecl.reporting.collect import time_rows


def test_the_extra_share_counts_statistics_and_memory_update_only():
    row = time_rows([{"task": 1, "statistics": 1.0, "training": 6.0, "memory_update": 2.0,
                      "alignment": 0.5, "evaluation": 0.5, "data_wait": 0.25}])[0]
    assert row["total"] == 10.0
    assert row["inflora_extra_share"] == pytest.approx(0.3)
    assert row["data_wait"] == 0.25


def test_phases_that_did_not_run_count_as_nothing_and_an_empty_task_has_no_share():
    first = time_rows([{"task": 1, "training": 4.0, "memory_update": 1.0}])[0]
    assert first["total"] == 5.0 and first["inflora_extra_share"] == pytest.approx(0.2)
    assert first["statistics"] is None
    assert time_rows([{"task": 2}])[0]["inflora_extra_share"] is None
