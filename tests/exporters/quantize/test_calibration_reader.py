"""The calibration reader refuses NaN/Inf wherever it appears in a streamed calibration set.

A streamed set is only read while ORT calibrates, so the reader is the one place that sees every
batch: a NaN there would make the min/max or histogram ranges NaN and every INT8 scale garbage.
"""
import numpy as np
import pytest

from edgecl.exporters.quantize.int8 import BatchCalibrationReader


def _drain(reader):
    out = []
    while (batch := reader.get_next()) is not None:
        out.append(batch["input"])
    return out


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_in_a_late_batch_is_refused(bad):
    good = np.zeros((3, 1, 2, 2), np.float32)
    late = good.copy()
    late[2, 0, 1, 1] = bad
    reader = BatchCalibrationReader([good, good, late], batch_size=4)
    with pytest.raises(ValueError, match="NaN/Inf"):
        _drain(reader)


def test_finite_batches_are_recut_to_the_batch_size():
    x = np.arange(7 * 4, dtype=np.float32).reshape(7, 1, 2, 2)
    batches = _drain(BatchCalibrationReader([x[:3], x[3:]], batch_size=4))
    assert [len(b) for b in batches] == [4, 3]
    np.testing.assert_array_equal(np.concatenate(batches), x)
