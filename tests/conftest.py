"""Shared fixtures: a tiny timm ViT and synthetic class-structured images (CPU, seconds).

torch and the trainer package are imported inside the helpers, never at module level: pytest loads
this file for every test below it, and the runtime tests (tests/runtime) must run where neither
is importable (tests/runtime/test_torch_free.py proves it).
"""
from __future__ import annotations

import pytest

TINY = dict(img_size=28, patch_size=7, in_chans=1, embed_dim=32, depth=2, num_heads=2)


def tiny_vit(num_classes: int = 0, seed: int = 0, **overrides):
    import torch

    from edgecl.vit.model import create_vit

    torch.manual_seed(seed)
    return create_vit("vit_tiny_patch16_224", num_classes, {**TINY, **overrides})


def synthetic_classes(num_classes: int, per_class: int, seed: int = 0, size: int = 28):
    """Images = a fixed random template per class + noise, in [0, 1]; labels 0..num_classes-1."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    templates = torch.rand(num_classes, 1, size, size, generator=gen)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    noise = 0.25 * torch.randn(len(labels), 1, size, size, generator=gen)
    return (templates[labels] + noise).clamp(0, 1), labels


@pytest.fixture
def tiny():
    return tiny_vit
