"""Golden set: stratified over tasks and classes, npz round trip without pickle, atomic writes."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

from edgecl_runtime.atomic_io import savez_atomic
from edgecl.exporters.parity.golden import read_golden, select_golden, write_golden


def _sets():
    rng = np.random.default_rng(0)
    return [(rng.random((40, 1, 8, 8), dtype=np.float32), np.repeat([0, 1], 20)),
            (rng.random((9, 1, 8, 8), dtype=np.float32), np.array([2] * 6 + [3] * 3))]


def test_select_golden_covers_every_task_and_class():
    sets = _sets()
    x, y, t = select_golden(sets, n=20)
    assert x.shape == (20, 1, 8, 8) and x.dtype == np.float32
    assert y.dtype == np.int64 and t.dtype == np.int64
    assert np.bincount(t).tolist() == [0, 11, 9]  # task 2 has only 9 images: all taken
    assert np.bincount(y[t == 1]).tolist() == [6, 5]
    for xi, yi, ti in zip(x, y, t):  # every row is a real test image of its task, label kept
        sx, sy = sets[ti - 1]
        hit = np.flatnonzero((sx == xi).all(axis=(1, 2, 3)))
        assert len(hit) == 1 and sy[hit[0]] == yi
    again = select_golden(sets, n=20)
    assert all(np.array_equal(a, b) for a, b in zip((x, y, t), again))


def test_select_golden_byte_cap_and_errors():
    x, _, _ = select_golden(_sets(), n=100, max_bytes=10 * 8 * 8 * 4)
    assert len(x) == 10
    with pytest.raises(ValueError, match="task 1"):
        select_golden([(np.zeros((3, 8, 8)), np.zeros(3))])


def test_round_trip_without_pickle(tmp_path):
    rng = np.random.default_rng(1)
    arrays = dict(inputs=rng.random((5, 3, 4, 4), dtype=np.float32), labels=np.arange(5),
                  task_ids=np.array([1, 1, 2, 2, 3]), logits=rng.normal(size=(5, 7)).astype(np.float32))
    path = write_golden(tmp_path / "golden.npz", **arrays)
    back = read_golden(path)
    for k, v in arrays.items():
        assert np.array_equal(back[k], v)
    assert back["labels"].dtype == np.int64 and back["task_ids"].dtype == np.int64
    assert back["inputs"].dtype == np.float32 and back["logits"].dtype == np.float32
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["inputs.npy", "labels.npy", "logits.npy", "task_ids.npy"]
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    assert [p.name for p in tmp_path.iterdir()] == ["golden.npz"]


def test_write_golden_refuses_bad_arrays(tmp_path):
    x = np.zeros((2, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="disagree"):
        write_golden(tmp_path / "g.npz", x, np.zeros(3), np.ones(2), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="1-based"):
        write_golden(tmp_path / "g.npz", x, np.zeros(2), np.zeros(2), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="no pickle"):
        savez_atomic(tmp_path / "g.npz", bad=np.array([{"a": 1}], dtype=object))
    assert not list(tmp_path.iterdir())


def test_read_golden_requires_all_arrays(tmp_path):
    np.savez(tmp_path / "g.npz", inputs=np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="lacks labels, task_ids, logits"):
        read_golden(tmp_path / "g.npz")
