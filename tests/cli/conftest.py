"""A tiny run configuration for CLI tests: 2-block ViT (d = 32) on the bundled MNIST subset."""
import pytest

from tests.factory import tiny_run_config


@pytest.fixture
def tiny_config(tmp_path):
    return tiny_run_config(tmp_path)
