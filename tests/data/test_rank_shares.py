"""Under torchrun each global batch is split across ranks (``edgecl/data/loader.py``,
``epoch_jobs``): rank r takes every world-th image from r, so the ranks' shares are disjoint, cover
the global batch, and draw augmentation from their own stream. Otherwise two GPUs would train on
the same images and the run would see half of its data per epoch."""
import numpy as np
import pytest

from edgecl.data.loader import epoch_jobs


@pytest.mark.parametrize("world", [2, 3])
def test_rank_shares_partition_every_global_batch(world):
    order = np.random.default_rng(0).permutation(23)
    single = epoch_jobs(order, {}, 8, "none", 0, 0)
    shares = [epoch_jobs(order, {}, 8, "none", 0, 0, rank=r, world=world) for r in range(world)]
    for b, job in enumerate(single):
        parts = [s[b].idx for s in shares]
        assert sorted(np.concatenate(parts).tolist()) == sorted(job.idx.tolist())
        for r, part in enumerate(parts):
            np.testing.assert_array_equal(part, job.idx[r::world])
        assert len({s[b].stream for s in shares}) == world
