"""Per-block uncentred second moments of the qkv inputs, C = mean over tokens of x x^T.

Accumulated as a float64 sum plus a token count (not a running mean) so that several processes
can all-reduce both and obtain exactly the single-process statistics.

Precision: the running sum over the data set is float64 everywhere. On CUDA each batch's x^T x is
also float64 (fast on data-centre GPUs, and immune to TF32). On CPU a float64 matmul is ~6x slower
than float32 and made a statistics pass 1.5x a plain forward pass; there each batch's product is
taken in float32 (relative error ~sqrt(tokens) * 6e-8, about 2e-6 for a batch of 1088 tokens,
far below anything the sigma^4 energy rule or the SVD can see) and added to the float64 sum.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from edgecl.inflora.branch import qkv_layers


class SecondMoments:
    """Running sums of x x^T (float64) and token counts for each hooked layer."""

    def __init__(self, dims: list[int]) -> None:
        self.sums = [torch.zeros(d, d, dtype=torch.float64) for d in dims]
        self.counts = [0 for _ in dims]

    def add(self, index: int, x: Tensor) -> None:
        tokens = x.detach().reshape(-1, x.shape[-1])
        if self.sums[index].device != tokens.device:
            self.sums[index] = self.sums[index].to(tokens.device)
        if tokens.device.type == "cuda":
            tokens = tokens.double()
            self.sums[index] += tokens.T @ tokens
        else:
            tokens = tokens.float()
            self.sums[index] += (tokens.T @ tokens).double()
        self.counts[index] += tokens.shape[0]

    def all_reduce(self, reduce_sum: Callable[[Tensor], Tensor]) -> None:
        """Sum the statistics of every process (exact: sums and counts, not means).

        ``reduce_sum`` sums a tensor over processes in place (the caller's distributed layer).
        """
        for s in self.sums:
            reduce_sum(s)
        counts = torch.tensor(self.counts, dtype=torch.float64)
        reduce_sum(counts)
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
