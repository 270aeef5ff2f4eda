"""Lazy public names for the exporters' package ``__init__`` files.

Why: a package names its whole public surface, but importing it must stay cheap: ``edgecl.config``
reads the calibration names and ``edgecl.exporters.parity.golden`` reads golden sets without
pulling in ONNX Runtime's quantiser or torch. Each name is imported from its module on first use.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: ``name`` comes from its module ``where[name]``."""
    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{where[name]}", package), name)
    return __getattr__
