"""A tiny run configuration for CLI tests: 2-block ViT (d = 32) on the bundled MNIST subset."""
import pytest
import yaml

from tests.factory import TINY_RUN


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_RUN))
    return path
