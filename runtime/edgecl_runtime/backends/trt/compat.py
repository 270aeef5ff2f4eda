"""Access to the optional ``tensorrt`` module and TensorRT version arithmetic.

TensorRT is not on PyPI for Jetson: it ships with JetPack (``python3-libnvinfer``).  Everything
that needs it imports it through ``import_tensorrt`` so the failure is one actionable line.
"""
from __future__ import annotations

import re
from typing import Any

from ...errors import EngineError

NO_TENSORRT = ("TensorRT is not importable here: it comes with JetPack on Jetson devices "
               "(python3-libnvinfer) or the tensorrt wheel on x86 GPUs; run `edgecl-rt build "
               "BUNDLE` on the device itself (the ORT backend works without it)")


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or EngineError explaining where TensorRT comes from."""
    try:
        import tensorrt
    except ImportError:
        raise EngineError(NO_TENSORRT) from None
    return tensorrt


def tensorrt_available() -> bool:
    """True when ``import tensorrt`` works (used by tests' skip markers and the CLI)."""
    try:
        import_tensorrt()
    except EngineError:
        return False
    return True


def version_tuple(version: str) -> tuple[int, ...]:
    """``"8.6.1.post1"`` -> (8, 6, 1); non-numeric tails are ignored."""
    parts = []
    for piece in str(version).split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    if not parts:
        raise ValueError(f"cannot parse TensorRT version {version!r}")
    return tuple(parts)
