"""edgecl_runtime: torch-free device side of edgecl (bundles, ORT/TensorRT backends, gate, CLI).

Public API: ``Classifier``, ``load_bundle``, ``verify_bundle``, ``evaluate_gate``,
``DEFAULT_THRESHOLDS``.  Attributes are imported lazily, on first access, so ``import
edgecl_runtime.contract`` stays cheap for the exporter and this module imports nothing of its own
package (it is on the ground floor: every module may import ``__version__`` from it).

Layout, in floors that import only downwards (``tests/runtime/test_layering.py`` checks it):
ground modules (contract, errors, atomic_io, strict_json, safetensors_read) < ``inputs``,
``backends`` < ``bundle`` < ``predict``, ``update`` < ``serve`` < ``cli``.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Classifier": "predict.classifier", "load_bundle": "bundle.read", "Bundle": "bundle.read",
    "verify_bundle": "bundle.verify", "evaluate_gate": "bundle.gate", "DEFAULT_THRESHOLDS": "contract",
    "merge_thresholds": "bundle.gate", "RuntimeFailure": "errors",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'edgecl_runtime' has no attribute {name!r}")
