"""Backbone creation and the normalising wrapper.

The model on disk is a plain timm ``VisionTransformer`` (its ``head`` covers every class seen so
far). Everything edgecl adds at training time (branches, statistics hooks) is attached from the
outside with hooks, so the parameter names never change and ``timm.create_model`` +
``load_state_dict`` is all a consumer needs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import timm
import torch
from torch import nn


class Normalized(nn.Module):
    """``f((x - mean) / std)`` with per-channel constants baked in as buffers.

    Inputs outside the graph are always [0, 1]; keeping the affine normalisation inside the module
    means the exported graph carries it and a device only has to resize and divide by 255.
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def create_vit(model_name: str, num_classes: int, model_kwargs: dict[str, Any] | None = None) -> nn.Module:
    """A randomly initialised timm ViT (never touches the hub)."""
    model = timm.create_model(model_name, pretrained=False, num_classes=num_classes, **(model_kwargs or {}))
    if not hasattr(model, "blocks") or not hasattr(model.blocks[0], "attn"):
        raise ValueError(f"model {model_name!r} is not a timm VisionTransformer: choose a vit_* / deit_* name")
    return model


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a local backbone file: safetensors, or a timm/torch checkpoint (weights only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path} (give a local .safetensors or .pth file)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_backbone_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load backbone weights, ignoring any classifier head in the file (heads are per task)."""
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("head.")]
    if missing or unexpected:
        raise ValueError(
            f"weights do not fit the model: missing {missing[:5]}, unexpected {list(unexpected)[:5]}"
            " (check --model and its options against the file)"
        )


def final_norm(model: nn.Module) -> nn.LayerNorm:
    """The LayerNorm right before the head: ``fc_norm`` for average pooling, else ``norm``."""
    for name in ("fc_norm", "norm"):
        layer = getattr(model, name, None)
        if isinstance(layer, nn.LayerNorm):
            return layer
    raise ValueError("this model has no final LayerNorm (norm / fc_norm) to replace")


def fresh_final_norm(model: nn.Module) -> None:
    """Replace the pre-trained final LayerNorm by a fresh one: weight 1, bias 0 (in place).

    The official CIFAR-100 + CA recipe swaps ``norm`` for a new ``nn.LayerNorm`` and never trains
    it, so features are plain standardised tokens (zero mean, unit variance per token) instead of
    the ImageNet-21k affine rescaling, which the authors found to suit 32 px images upsampled to
    224 px. Only the affine parameters are reset: timm's eps (1e-6, the official layer has 1e-5)
    stays, so the stored model is still exactly what ``timm.create_model`` + ``load_state_dict``
    rebuilds (the eps difference is far below the features' variance).
    """
    layer = final_norm(model)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.zero_()
