"""Inference backends: ONNX Runtime (everywhere) and native TensorRT (Jetson / NVIDIA GPUs).

Owns running a model file: ``open_backend`` picks one; ``trt/`` also builds and records TensorRT plans.
Every backend exposes ``run(batch: float32 (N,C,H,W)) -> float32 (N,K) logits``,
``describe() -> dict`` (backend, precision, versions, device) and ``close()``.
TensorRT is imported lazily so that ``import edgecl_runtime`` works without it.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

__all__ = ["BACKENDS", "Backend", "open_backend"]

BACKENDS = ("ort", "trt")


class Backend(Protocol):
    """What the classifier, verify and bench need from a backend."""

    precision: str
    max_batch: int | None

    def run(self, batch: np.ndarray) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def open_backend(bundle: Any, backend: str = "ort", precision: str = "fp32",
                 **options: Any) -> Backend:
    """Create the backend ``backend`` for ``bundle`` (a loaded Bundle) at ``precision``.

    ONNX Runtime gets the model's bytes that matched the manifest's sha256, never the path.
    """
    from ..errors import RuntimeFailure

    if backend == "ort":
        from .ort import OrtBackend
        return OrtBackend(bundle.onnx_bytes(precision), precision=precision,
                          name=bundle.onnx_path(precision).name, **options)
    if backend == "trt":
        from .trt.build import check_trt_precision
        from .trt.engine import TrtBackend
        check_trt_precision(precision)  # int8cpu: ONNX Runtime's CPU file, no TensorRT plan
        bundle.check_status(precision)  # a format that failed its export gate runs only when overridden
        return TrtBackend.for_bundle(bundle, precision=precision, **options)
    raise RuntimeFailure(f"unknown backend {backend!r}; use one of: {', '.join(BACKENDS)}")
