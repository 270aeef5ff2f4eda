"""A tiny run configuration for CLI tests: 2-block ViT (d = 32) on the bundled MNIST subset."""
import pytest
import yaml

TINY_RUN = {
    "dataset": "default", "weights": "none", "model": "vit_tiny_patch16_224",
    "model_kwargs": {"img_size": 28, "patch_size": 7, "in_chans": 1, "embed_dim": 32, "depth": 2, "num_heads": 2},
    "tasks": 5, "rank": 2, "epochs": 1, "batch_size": 128, "lr": 1e-3, "augment": "shift",
}


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_RUN))
    return path
