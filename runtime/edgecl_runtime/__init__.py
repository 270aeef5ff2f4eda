"""edgecl_runtime: torch-free device side of edgecl (bundles, ORT/TensorRT backends, gate, CLI).

Public API: ``Classifier``, ``load_bundle``, ``verify_bundle``, ``evaluate_gate``,
``DEFAULT_THRESHOLDS``.  Attributes are imported lazily so ``import edgecl_runtime.gate``
stays cheap for the exporter.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Classifier": "classifier", "load_bundle": "bundle", "Bundle": "bundle",
    "verify_bundle": "verify", "evaluate_gate": "gate", "DEFAULT_THRESHOLDS": "gate",
    "merge_thresholds": "gate", "RuntimeFailure": "errors",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'edgecl_runtime' has no attribute {name!r}")
