"""Designed branches are orthogonal to the old space; merging is exact, guarded and one-shot."""
import math

import pytest
import timm
import torch

from edgecl.inflora import Adapter, MergeError, SubspaceMemory, design_branch, merge_adapter, merge_state_dict
from edgecl.inflora.memory import RETAIN
from tests.factory import tiny_vit


def random_moment(d: int, seed: int) -> torch.Tensor:
    x = torch.randn(500, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x * torch.logspace(0, -2, d, dtype=torch.float64)
    return x.T @ x / 500


@pytest.mark.parametrize("threshold", [0.9, 0.9999])  # .9 keeps a small remove memory, .9999 flips to retain
def test_design_is_orthogonal_to_old_space(threshold):
    d = 24
    mem = SubspaceMemory.empty(d).update(random_moment(d, 0), threshold)
    mem = mem.update(random_moment(d, 1), threshold)
    assert mem.kind == ("remove" if threshold == 0.9 else RETAIN)
    design = design_branch(random_moment(d, 2), mem, rank=4)
    assert design.shape == (4, d) and design.dtype == torch.float32
    ratio = (design.double() @ mem.old_space_projector()).norm() / design.double().norm()
    assert ratio < 1e-5


def test_first_task_design_is_top_singular_vectors_over_sqrt3():
    d = 12
    c = random_moment(d, 3)
    design = design_branch(c, SubspaceMemory.empty(d), rank=3).double()
    u = torch.linalg.svd(c)[0][:, :3].T / math.sqrt(3)
    assert torch.allclose(design.abs(), u.abs(), atol=1e-6)


def trained_adapter(model, seed=0, designs=None):
    adapter = Adapter(model, rank=3, designs=designs)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapter.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return adapter


def test_merged_equals_unmerged_and_differs_from_base():
    model = tiny_vit(num_classes=5).eval()
    x = torch.rand(4, 1, 28, 28)
    base = model(x)
    adapter = trained_adapter(model)
    unmerged = model(x)
    merge_adapter(model, adapter)
    merged = model(x)
    assert not adapter.attached
    assert torch.allclose(merged, unmerged, atol=1e-5)
    assert (merged - base).abs().max() > 1e-3
    reloaded = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=5,
                                 img_size=28, patch_size=7, in_chans=1, embed_dim=32, depth=2, num_heads=2).eval()
    reloaded.load_state_dict(model.state_dict())
    assert torch.equal(reloaded(x), merged)


def test_only_k_and_v_rows_change():
    model = tiny_vit()
    before = model.blocks[0].attn.qkv.weight.detach().clone()
    merge_adapter(model, trained_adapter(model))
    after = model.blocks[0].attn.qkv.weight.detach()
    d = before.shape[1]
    assert torch.equal(before[:d], after[:d])
    assert not torch.equal(before[d:2 * d], after[d:2 * d]) and not torch.equal(before[2 * d:], after[2 * d:])


def test_second_merge_is_refused():
    model = tiny_vit()
    adapter = trained_adapter(model)
    merge_adapter(model, adapter)
    with pytest.raises(MergeError, match="already merged"):
        merge_adapter(model, adapter)


def test_non_finite_branch_is_refused_and_model_untouched():
    model = tiny_vit()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    adapter = trained_adapter(model)
    with torch.no_grad():
        adapter.branches[1].up_v[0, 0] = float("inf")
    with pytest.raises(MergeError, match="non-finite"):
        merge_adapter(model, adapter)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_merge_state_dict_is_pure_and_rejects_overflow():
    model = tiny_vit()
    state = model.state_dict()
    key = "blocks.0.attn.qkv.weight"
    delta = torch.full_like(state[key], 1.0, dtype=torch.float64)
    merged = merge_state_dict(state, [delta])
    assert torch.equal(merged[key], (state[key].double() + 1.0).float())
    assert not torch.equal(state[key], merged[key])  # input left alone
    with pytest.raises(MergeError):
        merge_state_dict(state, [torch.full_like(delta, 1e39)])


def test_adapter_on_first_blocks_only():
    model = tiny_vit()
    adapter = Adapter(model, rank=2, num_blocks=1)
    assert len(adapter.branches) == 1
    with pytest.raises(ValueError, match="blocks"):
        Adapter(model, rank=2, num_blocks=5)


def test_design_spans_the_top_directions_of_the_projected_moment():
    """Rows (x sqrt 3) are orthonormal and span the top-r singular vectors of (I - P_old) C, not of C."""
    gen = torch.Generator().manual_seed(7)
    a = torch.randn(16, 16, generator=gen, dtype=torch.float64)
    c = a @ a.T
    old = SubspaceMemory.empty(16).update(c, 0.6)  # the old space holds C's top directions
    c_next = c + 0.1 * torch.eye(16, dtype=torch.float64)
    rows = design_branch(c_next, old, 3).double() * 3 ** 0.5
    assert torch.allclose(rows @ rows.T, torch.eye(3, dtype=torch.float64), atol=1e-5)
    u, _, _ = torch.linalg.svd((torch.eye(16, dtype=torch.float64) - old.old_space_projector()) @ c_next)
    top = u[:, :3]
    assert float((rows.T @ rows - top @ top.T).norm()) < 1e-4
