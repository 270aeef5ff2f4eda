"""A streamed test set must yield exactly the images its labels announce, on every pass.

``gate_runner`` streams each format's pass without the label check (``check=None``, done once on
the reference pass), so the count check is what stops a reader that ends early (a truncated
file, a worker that died) from scoring a format on fewer images than PyTorch was scored on.
"""
import numpy as np
import pytest

from edgecl.exporters.parity.gate import stream_logits
from edgecl.exporters.parity.sources import BatchSource


def _source(n_labels: int, n_yielded: int) -> BatchSource:
    x = np.zeros((n_labels, 1, 2, 2), np.float32)
    y = np.arange(n_labels) % 2

    def read(rows):
        rows = rows[:n_yielded]
        for i in range(0, len(rows), 2):
            yield x[rows[i:i + 2]], y[rows[i:i + 2]]

    return BatchSource(y, (1, 2, 2), read)


def _run(x):
    return np.zeros((len(x), 2), np.float32)


@pytest.mark.parametrize("check", [None, "task 1 test inputs"])
def test_a_source_that_ends_early_is_refused(check):
    with pytest.raises(ValueError, match="gave 4 images, its labels say 6"):
        stream_logits(_run, _source(6, 4), check=check)


def test_a_complete_source_gives_one_row_per_label():
    assert stream_logits(_run, _source(6, 6)).shape == (6, 2)
