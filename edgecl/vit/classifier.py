"""A timm ViT plus task heads: the class-incremental classifier being trained.

Old tasks' heads live concatenated in ``vit.head`` (one Linear over every class seen so far, which
is exactly the stored model); the current task trains ``new_head``. Logits are the concatenation,
so inference is argmax over all seen classes with no task id.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn



class IncrementalClassifier(nn.Module):
    def __init__(self, vit: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.vit = vit
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.new_head: nn.Linear | None = None

    @property
    def num_old_classes(self) -> int:
        return int(self.vit.num_classes)

    @property
    def feature_dim(self) -> int:
        return int(self.vit.num_features)

    def normalize(self, x: Tensor) -> Tensor:
        """(x - mean) / std: the only preprocessing inside the model (inputs are in [0, 1])."""
        return (x - self.mean) / self.std

    def features(self, x: Tensor) -> Tensor:
        """Pooled, normalised features (the CLS token after the final LayerNorm by default)."""
        tokens = self.vit.forward_features(self.normalize(x))
        return self.vit.forward_head(tokens, pre_logits=True)

    def logits_from_features(self, feats: Tensor) -> Tensor:
        parts = []
        if self.num_old_classes > 0:
            parts.append(self.vit.head(feats))
        if self.new_head is not None:
            parts.append(self.new_head(feats))
        return torch.cat(parts, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.logits_from_features(self.features(x))

    def add_head(self, num_classes: int) -> nn.Linear:
        if self.new_head is not None:
            raise RuntimeError("a task head is already open; fold it before adding another")
        ref = next(self.vit.parameters())
        self.new_head = nn.Linear(self.feature_dim, num_classes).to(ref.device)
        return self.new_head

    def fold_head(self) -> None:
        """Concatenate the current head under the old ones (task order) into ``vit.head``."""
        if self.new_head is None:
            return
        heads = [self.vit.head] if self.num_old_classes > 0 else []
        heads.append(self.new_head)
        total = sum(h.out_features for h in heads)
        ref = self.new_head.weight
        folded = nn.Linear(self.feature_dim, total).to(ref.device)
        with torch.no_grad():
            folded.weight.copy_(torch.cat([h.weight for h in heads]))
            folded.bias.copy_(torch.cat([h.bias for h in heads]))
        self.vit.head = folded
        self.vit.num_classes = total
        self.new_head = None
