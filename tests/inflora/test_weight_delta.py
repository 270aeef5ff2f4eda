"""``Branch.weight_delta`` is the change of qkv.weight the branch stands for (``[0; U_k D; U_v D]``,
``edgecl/inflora/branch.py``): the interference metric measures it against the old space, so it
must be the change the merge applies, row block for row block (Q untouched, then K, then V).
The merge goes through the device's float64 routine and rounds to float32 once, so the two agree
to float32 rounding of the merged weight."""
import torch

from edgecl.inflora import merge_adapter
from tests.conftest import tiny_vit
from tests.inflora.test_design_merge import trained_adapter


def test_weight_delta_is_the_change_the_merge_applies_in_every_row_block():
    model = tiny_vit()
    adapter = trained_adapter(model)
    deltas = [d.clone() for d in adapter.weight_deltas()]
    before = [b.attn.qkv.weight.detach().double().clone() for b in model.blocks]
    merge_adapter(model, adapter)
    for i, delta in enumerate(deltas):
        applied = model.blocks[i].attn.qkv.weight.detach().double() - before[i]
        d = delta.shape[1]
        assert delta.shape == (3 * d, d) and delta.dtype == torch.float64
        assert torch.equal(delta[:d], torch.zeros(d, d, dtype=torch.float64))
        for rows in (slice(d, 2 * d), slice(2 * d, 3 * d)):
            assert delta[rows].abs().max() > 1e-3
            torch.testing.assert_close(applied[rows], delta[rows], rtol=0, atol=1e-6)
