"""Fixtures for the runtime tests: tiny bundles made with onnx.helper (no torch)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.rt_factory import make_bundle


@pytest.fixture(scope="session")
def bundle_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One read-only bundle shared by tests that do not modify it."""
    return make_bundle(tmp_path_factory.mktemp("tpl") / "export")


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    """A fresh bundle a test may alter."""
    return make_bundle(tmp_path / "task-01" / "export")
