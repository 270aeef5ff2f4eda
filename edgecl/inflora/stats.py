"""Per-block uncentred second moments of the qkv inputs, C = mean over tokens of x x^T.

Accumulated as a float64 sum plus a token count (not a running mean) so that several processes
can all-reduce both and obtain exactly the single-process statistics.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from .branch import qkv_layers


class SecondMoments:
    """Running sums of x x^T (float64) and token counts for each hooked layer."""

    def __init__(self, dims: list[int]) -> None:
        self.sums = [torch.zeros(d, d, dtype=torch.float64) for d in dims]
        self.counts = [0 for _ in dims]

    def add(self, index: int, x: Tensor) -> None:
        tokens = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
        if self.sums[index].device != tokens.device:
            self.sums[index] = self.sums[index].to(tokens.device)
        self.sums[index] += tokens.T @ tokens
        self.counts[index] += tokens.shape[0]

    def all_reduce(self) -> None:
        """Sum the statistics of every process (exact: sums and counts, not means)."""
        from ..distributed import all_reduce_sum_

        for s in self.sums:
            all_reduce_sum_(s)
        counts = torch.tensor(self.counts, dtype=torch.float64)
        all_reduce_sum_(counts)
        self.counts = [int(c) for c in counts]

    def means(self) -> list[Tensor]:
        if not all(self.counts):
            raise RuntimeError("no tokens were seen: the statistics pass ran on an empty data set")
        return [(s / n).cpu() for s, n in zip(self.sums, self.counts)]


@contextmanager
def recording(model: nn.Module, num_blocks: int | None = None) -> Iterator[SecondMoments]:
    """Hook the qkv inputs of the model while the ``with`` body runs forward passes."""
    layers = qkv_layers(model, num_blocks)
    moments = SecondMoments([layer.in_features for layer in layers])
    handles = [
        layer.register_forward_pre_hook(lambda m, inp, i=i: moments.add(i, inp[0]))
        for i, layer in enumerate(layers)
    ]
    try:
        yield moments
    finally:
        for handle in handles:
            handle.remove()
