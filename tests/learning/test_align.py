"""Classifier alignment: statistics, reproducible sampling, heads calibrated across tasks, storage."""
import pytest
import torch
from torch import nn

from edgecl.learning.align import ClassStats, align_heads, compute_stats, normalized_logits, sample_features
from edgecl.run.tensors import load_tensors, save_tensors


def hand_made():
    feats = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0], [0.0, 6.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 1])
    return feats, labels


def test_statistics_on_hand_made_features():
    stats = compute_stats(*hand_made(), task=0, mode="full")
    assert torch.allclose(stats.means, torch.tensor([[2.0, 0.0], [0.0, 4.0]], dtype=torch.float64))
    assert torch.allclose(stats.covs[0], torch.tensor([[2.0 + 1e-4, 0], [0, 1e-4]], dtype=torch.float64))
    assert torch.allclose(stats.covs[1], torch.tensor([[1e-4, 0], [0, 4.0 + 1e-4]], dtype=torch.float64))
    diag = compute_stats(*hand_made(), task=0, mode="diag")
    assert torch.allclose(diag.covs, torch.tensor([[2 + 1e-4, 1e-4], [1e-4, 4 + 1e-4]], dtype=torch.float64))
    shared = compute_stats(*hand_made(), task=0, mode="shared")
    # pooled: (1 * diag(2, 0) + 2 * diag(0, 4)) / 3
    assert torch.allclose(shared.covs[0], torch.diag(torch.tensor([2 / 3, 8 / 3], dtype=torch.float64)) + 1e-4 * torch.eye(2, dtype=torch.float64))
    assert shared.nbytes() < stats.nbytes() + 64


def test_statistics_accumulate_over_tasks_in_output_order():
    first = compute_stats(*hand_made(), task=0, mode="full")
    feats, labels = hand_made()
    both = compute_stats(feats + 10, labels + 2, task=1, mode="full", previous=first)
    assert both.classes.tolist() == [0, 1, 2, 3] and both.tasks.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="stored as"):
        compute_stats(feats, labels + 4, task=2, mode="diag", previous=both)


def test_sampling_is_reproducible_and_scales_old_means():
    stats = compute_stats(*hand_made(), task=0, mode="full")
    a = sample_features(stats, 0, 64, torch.Generator().manual_seed(3))
    b = sample_features(stats, 0, 64, torch.Generator().manual_seed(3))
    c = sample_features(stats, 0, 64, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])
    many, _ = sample_features(stats, 1, 20000, torch.Generator().manual_seed(0))  # old task: scale .95
    assert torch.allclose(many[:20000].mean(0), torch.tensor([1.9, 0.0]), atol=0.05)


def test_alignment_fixes_heads_that_confuse_tasks():
    gen = torch.Generator().manual_seed(0)
    # task 1: class 0 at (4, 0); task 2: class 1 at (0, 4); per-task heads never saw the other class
    f0 = torch.randn(200, 2, generator=gen) * 0.5 + torch.tensor([4.0, 0.0])
    f1 = torch.randn(200, 2, generator=gen) * 0.5 + torch.tensor([0.0, 4.0])
    head = nn.Linear(2, 2)
    with torch.no_grad():  # uncalibrated: task 2's logit dominates everywhere
        head.weight.copy_(torch.tensor([[0.1, 0.0], [0.0, 0.1]]))
        head.bias.copy_(torch.tensor([0.0, 3.0]))
    feats, labels = torch.cat([f0, f1]), torch.cat([torch.zeros(200), torch.ones(200)]).long()
    before = (head(feats).argmax(1) == labels).float().mean()
    stats = compute_stats(f0.double(), torch.zeros(200).long(), 0)
    stats = compute_stats(f1.double(), torch.ones(200).long(), 1, previous=stats)
    align_heads(head, stats, current_task=1, task_sizes=[1, 1], seed=0, per_class=1024)
    after = (head(feats).argmax(1) == labels).float().mean()
    assert before <= 0.55 and after > 0.98


def test_logit_normalisation_is_scale_free():
    logits = torch.randn(5, 4)
    assert torch.allclose(normalized_logits(logits, [2, 2]), normalized_logits(3 * logits, [2, 2]), atol=1e-5)


def test_statistics_round_trip(tmp_path):
    stats = compute_stats(*hand_made(), task=0, mode="shared")
    save_tensors(tmp_path / "s.safetensors", stats.to_tensors())
    back = ClassStats.from_tensors(load_tensors(tmp_path / "s.safetensors"))
    assert back.mode == "shared" and torch.equal(back.covs, stats.covs) and torch.equal(back.classes, stats.classes)
