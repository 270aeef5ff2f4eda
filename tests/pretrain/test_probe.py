"""The three read-outs that judge a backbone, on features whose right answer is known.

Contracts (``edgecl/pretrain/probe.py``): NCM and LDA answer with the class *label* (labels need not
be 0..K-1); LDA scores ``x P mu_c - 1/2 mu_c P mu_c`` (the Gaussian log-likelihood with a shared
covariance, so a far class does not win just for being far from the origin); the linear probe
standardises validation features with the *training* statistics (a validation set of one class
must not be re-centred onto the decision boundary).
"""
import torch

from edgecl.pretrain.probe import gaussian_accuracy, logistic_regression_accuracy, ncm_accuracy


def _blobs(centres, labels, n, seed, spread=0.05):
    gen = torch.Generator().manual_seed(seed)
    xs = [torch.tensor(c, dtype=torch.float32) + spread * torch.randn(n, len(c), generator=gen) for c in centres]
    return torch.cat(xs), torch.tensor(labels).repeat_interleave(n)


def test_ncm_answers_with_labels_that_are_not_0_to_k():
    tf, ty = _blobs([(1.0, 0.0), (0.0, 1.0)], [3, 7], 20, seed=0)
    vf, vy = _blobs([(1.0, 0.0), (0.0, 1.0)], [3, 7], 10, seed=1)
    assert ncm_accuracy(tf, ty, vf, vy) == 1.0


def test_lda_prefers_the_near_class_over_the_far_one():
    # class 0 far from the origin, class 1 near it: x near (1, 0) is class 1
    tf, ty = _blobs([(10.0, 0.0), (1.0, 0.0)], [0, 1], 50, seed=0, spread=0.3)
    vf, vy = _blobs([(1.0, 0.0)], [1], 20, seed=1, spread=0.3)
    assert gaussian_accuracy(tf, ty, vf, vy) == 1.0


def test_the_linear_probe_standardises_validation_with_training_statistics():
    tf, ty = _blobs([(-1.0,), (1.0,)], [0, 1], 50, seed=0, spread=0.1)
    vf, vy = _blobs([(1.0,)], [1], 20, seed=1, spread=0.1)
    assert logistic_regression_accuracy(tf, ty, vf, vy) == 1.0
