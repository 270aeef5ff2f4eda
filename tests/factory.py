"""The one tiny model every test builds on: its settings, a timm ViT of them, and synthetic classes.

torch and the trainer package are imported inside the helpers, never at module level, so torch-free
test folders (tests/runtime) can import this module where neither is installed.
"""
from __future__ import annotations

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


# A whole run of that model for CLI tests: 2 blocks (d = 32) on the bundled MNIST subset, one epoch.
TINY_RUN = {
    "dataset": "default", "weights": "none", "model": "vit_tiny_patch16_224", "model_kwargs": dict(TINY),
    "tasks": 5, "rank": 2, "epochs": 1, "batch_size": 128, "lr": 1e-3, "augment": "shift",
}


def tiny_run_config(folder, **overrides):
    """``folder/tiny.yaml``: :data:`TINY_RUN` with ``overrides``, for ``edgecl learn --config``."""
    from pathlib import Path

    import yaml

    path = Path(folder) / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY_RUN, **overrides}))
    return path
