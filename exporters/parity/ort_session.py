"""ONNX Runtime sessions on the CPU and batched inference over NCHW arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort


_SESSION_THREADS: list[int | None] = [None]  # set once per command by set_session_threads


def set_session_threads(threads: int | None) -> None:
    """Intra-op threads of every ONNX Runtime session the exporters open from now on (None: ORT's
    choice): ``--threads`` reaches the parity gates, calibration and fallback searches this way."""
    _SESSION_THREADS[0] = threads


def session_options(level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                    threads: int | None = None) -> ort.SessionOptions:
    """CPU session options: ``level``, quiet, ``threads`` or the command's :func:`set_session_threads`."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = level
    opts.log_severity_level = 3
    threads = threads or _SESSION_THREADS[0]
    if threads:
        opts.intra_op_num_threads = int(threads)
    return opts


def make_session(path: str | Path, *, threads: int | None = None) -> ort.InferenceSession:
    """A CPU session with full graph optimisation; ``threads`` caps intra-op threads (None: the
    command's ``--threads``, else ORT's choice)."""
    return ort.InferenceSession(str(path), session_options(threads=threads), providers=["CPUExecutionProvider"])


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
