"""ONNX Runtime sessions on the CPU and batched inference over NCHW arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort


def make_session(path: str | Path, *, threads: int | None = None) -> ort.InferenceSession:
    """A CPU session with full graph optimisation; ``threads`` caps intra-op threads (None: ORT's choice)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = int(threads)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_batched(session: ort.InferenceSession, x: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
    """Logits (N, K) float32 for float32 inputs (N, C, H, W), ``batch_size`` rows per run."""
    if x.ndim != 4:
        raise ValueError(f"inputs must be NCHW (4-D), got shape {x.shape}")
    name = session.get_inputs()[0].name
    outs = [
        session.run(None, {name: np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32)})[0]
        for i in range(0, len(x), batch_size)
    ]
    if not outs:
        raise ValueError("no inputs to run")
    return np.concatenate(outs).astype(np.float32, copy=False)


def onnx_logits(path: str | Path, x: np.ndarray, *, batch_size: int = 32, threads: int | None = None) -> np.ndarray:
    """Open ``path`` and return its logits on ``x`` (see :func:`run_batched`)."""
    return run_batched(make_session(path, threads=threads), x, batch_size=batch_size)
