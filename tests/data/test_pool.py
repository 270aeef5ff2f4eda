"""The session's worker pool: workers start once for many passes, batches equal the in-process ones."""
import os

import numpy as np
import pytest
import torch

from edgecl.data.imageset import FileImageSet
from edgecl.data.loader import iterate_batches
from edgecl.data.pool import WorkerPool
from edgecl.errors import DataError
from edgecl_runtime.inputs.preprocess import input_spec
from tests.data.test_workers import same, smooth_jpegs

SPEC = input_spec("RGB", 24, resize=28)


class PidLoggingSet(FileImageSet):
    """A file-backed set that appends the decoding process's pid to ``log`` for every image."""

    def __init__(self, paths, labels, log):
        super().__init__(paths, labels)
        self.log = log

    def image(self, i):
        with open(self.log, "a") as f:  # one short line per write: appends do not interleave
            f.write(f"{os.getpid()}\n")
        return super().image(i)


def passes(imageset, pool, epochs=(0, 1, 2), augment="crop-flip"):
    idx = np.arange(len(imageset))
    return [list(iterate_batches(imageset, idx, SPEC, 3, augment=augment, shuffle=True, seed=4, epoch=e, pool=pool))
            for e in epochs]


def test_many_passes_reuse_the_same_workers_and_equal_in_process_batches(tmp_path):
    log = tmp_path / "pids.txt"
    files = PidLoggingSet(smooth_jpegs(tmp_path / "img", n=12), np.arange(12) % 3, log)
    pool = WorkerPool([files], workers=2)
    try:
        pooled = passes(files, pool) + passes(files, pool, epochs=(0,), augment="none")
    finally:
        pool.close()
    log.unlink()
    expected = passes(files, None) + passes(files, None, epochs=(0,), augment="none")
    for a, b in zip(pooled, expected):
        same(a, b)
    assert {int(p) for p in log.read_text().split()} == {os.getpid()}  # the reference was made in-process


def test_pool_processes_are_started_once(tmp_path):
    log = tmp_path / "pids.txt"
    files = PidLoggingSet(smooth_jpegs(tmp_path / "img", n=12), np.arange(12) % 3, log)
    pool = WorkerPool([files], workers=2)
    try:
        passes(files, pool, epochs=range(4))
    finally:
        pool.close()
    pids = {int(p) for p in log.read_text().split()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2  # 4 passes, at most the 2 first workers


def test_nested_pass_and_unknown_set_are_made_here_with_the_same_batches(tmp_path):
    files = FileImageSet(smooth_jpegs(tmp_path / "a", n=9), np.arange(9) % 3)
    other = FileImageSet(smooth_jpegs(tmp_path / "b", n=6, seed=1), np.arange(6) % 2)
    pool = WorkerPool([files], workers=2)
    idx = np.arange(9)
    try:
        outer, inner = [], []
        for batch in iterate_batches(files, idx, SPEC, 3, augment="crop-flip", shuffle=True, seed=1, epoch=0,
                                     pool=pool):
            outer.append(batch)
            if not inner:  # a second pass while the first is being read
                inner = list(iterate_batches(files, idx, SPEC, 3, augment="none", shuffle=False, seed=0, epoch=0,
                                             pool=pool))
        unknown = passes(other, pool, epochs=(0,))
    finally:
        pool.close()
    same(outer, list(iterate_batches(files, idx, SPEC, 3, augment="crop-flip", shuffle=True, seed=1, epoch=0)))
    same(inner, list(iterate_batches(files, idx, SPEC, 3, augment="none", shuffle=False, seed=0, epoch=0)))
    same(unknown[0], passes(other, None, epochs=(0,))[0])


def test_bad_image_in_a_pool_worker_is_one_line_and_the_pool_goes_on(tmp_path):
    paths = smooth_jpegs(tmp_path, n=6)
    paths[4].write_bytes(paths[4].read_bytes()[:200])  # truncated JPEG
    files = FileImageSet(paths, [0] * len(paths))
    pool = WorkerPool([files], workers=2)
    try:
        with pytest.raises(DataError) as info:
            passes(files, pool, epochs=(0,))
        assert "\n" not in str(info.value) and str(paths[4]) in str(info.value)
        good = list(iterate_batches(files, np.arange(4), SPEC, 2, augment="none", shuffle=False, seed=0, epoch=0,
                                    pool=pool))
    finally:
        pool.close()
    assert torch.equal(torch.cat([x for x, _ in good]),
                       torch.cat([x for x, _ in iterate_batches(files, np.arange(4), SPEC, 2, augment="none",
                                                                shuffle=False, seed=0, epoch=0)]))


def test_pool_needs_a_worker():
    with pytest.raises(DataError, match="at least one worker"):
        WorkerPool([], workers=0)
