"""The PyTorch side of every comparison: the model in export mode and its reference logits.

Export mode = ``eval()`` (dropout off, no stochastic depth) and timm's fused attention switched off.
With ``fused_attn`` on, timm calls ``F.scaled_dot_product_attention``, whose export depends on the
exporter and opset; the explicit ``softmax(q k^T * scale) v`` path always exports to plain
MatMul/Mul/Softmax nodes, which older TensorRT parsers accept and which the FP16 converter can keep in
FP32 by op type (Softmax). The reference logits are computed in the same mode, so PyTorch and ONNX
run the same maths.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch
from torch import nn


@contextlib.contextmanager
def export_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode with ``fused_attn = False`` everywhere; restore both on exit."""
    fused = [(m, m.fused_attn) for m in model.modules() if hasattr(m, "fused_attn")]
    training = [(m, m.training) for m in model.modules()]
    try:
        for m, _ in fused:
            m.fused_attn = False
        model.eval()
        yield model
    finally:
        for m, flag in fused:
            m.fused_attn = flag
        for m, flag in training:
            m.training = flag


def model_device(model: nn.Module) -> torch.device:
    """Device of the first parameter (CPU for a parameterless module)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def torch_logits(model: nn.Module, x: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """Reference logits (N, K) float32 of ``model`` in export mode on float32 NCHW ``x``."""
    if x.ndim != 4:
        raise ValueError(f"inputs must be NCHW (4-D), got shape {x.shape}")
    device = model_device(model)
    outs = []
    with export_mode(model), torch.inference_mode():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32)).to(device)
            outs.append(model(xb).float().cpu().numpy())
    if not outs:
        raise ValueError("no inputs to run")
    return np.concatenate(outs)
