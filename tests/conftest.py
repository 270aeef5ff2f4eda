"""Shared fixtures: a tiny timm ViT and synthetic class-structured images (CPU, seconds).

torch and the trainer package are imported inside the helpers, never at module level: pytest loads
this file for every test below it, and the runtime tests (tests/runtime) must run where neither
is importable (tests/runtime/test_torch_free.py proves it).
"""
from __future__ import annotations

import pytest

from tests.factory import tiny_vit


@pytest.fixture
def tiny():
    return tiny_vit
