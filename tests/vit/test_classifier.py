"""The incremental classifier's two promises (``edgecl/vit/classifier.py``): folding the current
head under the old ones changes no logit (class order = task order), and the normalisation
inside the model is exactly ``(x - mean) / std`` (the device feeds [0, 1] pixels and nothing else).
And ``fresh_final_norm`` (the CIFAR-100 + CA recipe) leaves a LayerNorm of weight 1, bias 0."""
import torch

from edgecl.vit.classifier import IncrementalClassifier
from edgecl.vit.model import final_norm, fresh_final_norm
from tests.conftest import tiny_vit


def test_folding_heads_keeps_every_logit_and_the_task_order():
    clf = IncrementalClassifier(tiny_vit(seed=1), [0.5], [0.25]).eval()
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for classes in (2, 3):
        clf.add_head(classes)
        with torch.no_grad():
            before = clf(x)
        clf.fold_head()
        with torch.no_grad():
            # one wide matmul instead of two narrow ones: equal up to float32 rounding
            torch.testing.assert_close(clf(x), before, rtol=0, atol=1e-6)
    assert clf.num_old_classes == 5


def test_normalisation_is_minus_mean_over_std():
    clf = IncrementalClassifier(tiny_vit(), [0.5], [0.25])
    x = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(1, 1, 2, 2)
    assert torch.equal(clf.normalize(x), torch.tensor([-2.0, -1.0, 0.0, 2.0]).view(1, 1, 2, 2))


def test_fresh_final_norm_is_weight_one_bias_zero():
    vit = tiny_vit()
    with torch.no_grad():
        final_norm(vit).weight.fill_(3.0)
        final_norm(vit).bias.fill_(0.5)
    fresh_final_norm(vit)
    assert torch.equal(final_norm(vit).weight, torch.ones_like(final_norm(vit).weight))
    assert torch.equal(final_norm(vit).bias, torch.zeros_like(final_norm(vit).bias))
