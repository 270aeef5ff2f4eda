"""DualGPM memory: the energy rules on hand-built spectra, the d/2 switch, invariants."""
import pytest
import torch

from edgecl.inflora import SubspaceMemory, threshold_for_task
from edgecl.inflora.memory import REMOVE, RETAIN

D = 8


def rotation(seed: int = 0) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(D, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


Q = rotation()


def moment(eigs) -> torch.Tensor:
    return Q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ Q.T


def span_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Distance between the column spans of two orthonormal bases of equal size."""
    return float((a @ a.T - b @ b.T).norm())


def assert_orthonormal(mem: SubspaceMemory) -> None:
    f = mem.basis
    assert torch.allclose(f.T @ f, torch.eye(f.shape[1], dtype=f.dtype), atol=1e-5)


def test_first_task_counts_energy_ratios_strictly_below_threshold():
    # energies 9, 4, 2.25, .25 of 15.5: cumulative ratios .581, .839, .984, 1.0
    mem = SubspaceMemory.empty(D).update(moment([3, 2, 1.5, 0.5, 0, 0, 0, 0]), 0.99)
    assert mem.kind == REMOVE and mem.old_space_dim == 3
    assert span_distance(mem.basis, Q[:, :3]) < 1e-8
    assert_orthonormal(mem)


def test_first_task_keeps_at_least_one_direction():
    mem = SubspaceMemory.empty(D).update(moment([3, 2, 1.5, 0.5, 0, 0, 0, 0]), 0.5)
    assert mem.old_space_dim == 1 and mem.kind == REMOVE


def test_first_task_at_half_dimension_stores_the_complement():
    # flat spectrum: ratios i/8, seven of them below .95 -> k = 7 >= d/2 -> retain its complement
    mem = SubspaceMemory.empty(D).update(moment([1.0] * D), 0.95)
    assert mem.kind == RETAIN and mem.basis.shape[1] == 1 and mem.old_space_dim == 7
    assert_orthonormal(mem)


def test_first_task_exactly_half_is_retain():
    # energies 1,1,1,1,.25,.25,.25,.25 of 5: ratios .2 .4 .6 .8 .85 ...
    eigs = [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5]
    below = SubspaceMemory.empty(D).update(moment(eigs), 0.8)  # .8 is not < .8: k = 3
    assert below.kind == REMOVE and below.old_space_dim == 3
    half = SubspaceMemory.empty(D).update(moment(eigs), 0.81)  # k = 4 = d/2 -> complement stored
    assert half.kind == RETAIN and half.old_space_dim == 4 and half.basis.shape[1] == 4


def test_first_task_energy_is_sigma4_not_sigma2():
    # C's eigenvalues 2, 1, 1 (token sigma^2): sigma^4 energies 4, 1, 1 -> ratios .667 .833 1 -> k = 1
    # at .8; sigma^2 energies would give .5 .75 1 -> k = 2
    mem = SubspaceMemory.empty(D).update(moment([2, 1, 1, 0, 0, 0, 0, 0]), 0.8)
    assert mem.old_space_dim == 1 and span_distance(mem.basis, Q[:, :1]) < 1e-8


def remove_memory() -> SubspaceMemory:
    return SubspaceMemory(Q[:, :3].clone(), REMOVE, 1)


def test_remove_growth_includes_the_crossing_direction_and_switches_past_half():
    # E = 8; old space explains 3/8; new energies 4/8 then 1/8
    c = moment([1, 1, 1, 2, 1, 0, 0, 0])
    grown = remove_memory().update(c, 0.8)  # .375 -> .875 crosses .8: one direction added
    assert grown.kind == REMOVE and grown.old_space_dim == 4
    assert span_distance(grown.basis, Q[:, :4]) < 1e-8
    both = remove_memory().update(c, 0.95)  # .375 -> .875 -> 1.0: two added -> 5 > d/2 -> retain
    assert both.kind == RETAIN and both.old_space_dim == 5 and both.basis.shape[1] == 3
    assert span_distance(both.basis, Q[:, 5:]) < 1e-8
    assert_orthonormal(both)


def test_remove_is_unchanged_when_old_space_already_explains_enough():
    c = moment([1, 1, 1, 0.01, 0, 0, 0, 0])
    grown = remove_memory().update(c, 0.9)
    assert grown.old_space_dim == 3 and span_distance(grown.basis, Q[:, :3]) < 1e-8


def test_retain_drops_new_directions_from_the_complement():
    mem = SubspaceMemory(Q[:, 5:].clone(), RETAIN, 2)  # old space = first five directions
    c = moment([1, 1, 1, 1, 1, 3, 1, 0])  # outside energy: 9 + 1 of 15 -> acc = .667
    strict = mem.update(c, 0.95)  # keep removing while acc >= .05: both directions go
    assert strict.kind == RETAIN and strict.old_space_dim == 7
    assert span_distance(strict.basis, Q[:, 7:]) < 1e-8
    loose = mem.update(c, 0.5)  # acc .667 >= .5 -> remove one -> .067 < .5 stop
    assert loose.old_space_dim == 6 and span_distance(loose.basis, Q[:, 6:]) < 1e-8
    assert_orthonormal(loose)


def test_remove_growth_energy_is_sigma4_not_sigma2():
    # sigma^4: old 3 of 8 -> .375, +4/8 -> .875 >= .85 stop: one direction added.
    # sigma^2 would read old 3 of 6 -> .5, +2/6 -> .833 < .85, +1/6: two directions added.
    grown = remove_memory().update(moment([1, 1, 1, 2, 1, 0, 0, 0]), 0.85)
    assert grown.kind == REMOVE and grown.old_space_dim == 4
    assert span_distance(grown.basis, Q[:, :4]) < 1e-8


def test_retain_growth_energy_is_sigma4_not_sigma2():
    # sigma^4: outside energy 9 + 1 of 15 = .667 >= .1 -> remove one -> .067 < .1 stop (old dim 6).
    # sigma^2 would read 3 + 1 of 9 = .444 -> .111 >= .1 -> remove both (old dim 7).
    mem = SubspaceMemory(Q[:, 5:].clone(), RETAIN, 2)
    grown = mem.update(moment([1, 1, 1, 1, 1, 3, 1, 0]), 0.9)
    assert grown.kind == RETAIN and grown.old_space_dim == 6
    assert span_distance(grown.basis, Q[:, 6:]) < 1e-8


def test_retain_never_switches_back():
    mem = SubspaceMemory(Q[:, 1:].clone(), RETAIN, 1)  # old dim 1 < d/2, but stays retain
    assert mem.update(moment([1, 0, 0, 0, 0, 0, 0, 0]), 0.95).kind == RETAIN


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_invariants_over_random_tasks(seed):
    gen = torch.Generator().manual_seed(seed)
    mem, d = SubspaceMemory.empty(16), 16
    dims = []
    for t in range(6):
        x = torch.randn(200, d, generator=gen, dtype=torch.float64) * torch.linspace(3, 0.1, d, dtype=torch.float64)
        x = x @ rotation(seed * 10 + t).repeat(2, 2)[:d, :d]
        mem = mem.update(x.T @ x / 200, threshold_for_task(t, 6, 0.9))
        assert_orthonormal(mem)
        dims.append(mem.old_space_dim)
    assert dims == sorted(dims) and dims[-1] > dims[0]


def test_threshold_schedule_and_round_trip():
    assert threshold_for_task(0, 10, 0.95) == pytest.approx(0.95)
    assert threshold_for_task(5, 10, 0.95) == pytest.approx(0.975)
    mem = remove_memory().update(moment([1, 1, 1, 2, 1, 0, 0, 0]), 0.95)
    back = SubspaceMemory.from_tensors(mem.to_tensors("blocks.0"), "blocks.0")
    assert back.kind == mem.kind and back.updates == mem.updates and torch.equal(back.basis, mem.basis)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="shape"):
        SubspaceMemory.empty(4).update(torch.eye(3), 0.9)
    with pytest.raises(ValueError, match="NaN"):
        SubspaceMemory.empty(2).update(torch.tensor([[float("nan"), 0], [0, 1]]), 0.9)
