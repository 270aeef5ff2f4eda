"""Config precedence, shipped paper configs, conflict messages."""
from pathlib import Path

import pytest

from edgecl.config import conflicts, read_yaml, resolve

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_paper_configs_resolve(path):
    config = resolve({}, read_yaml(path))
    # rank 5: CIFAR-100 + CA; lambda 0.99: ImageNet-R-10 b5 (every value: tests/learning/test_recipes.py)
    assert config.model == "vit_base_patch16_224" and config.rank in (5, 10, 30)
    assert config.lam in (0.95, 0.98, 0.99) and config.mean == [0.0, 0.0, 0.0]


def test_precedence_cli_over_yaml_over_preset(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rank: 4\nepochs: 2\nlambda: 0.9\n")
    config = resolve({"rank": 6}, read_yaml(path))
    assert (config.rank, config.epochs, config.lam) == (6, 2, 0.9)
    assert resolve({}).epochs == 5  # the bundled (narrow) backbone's preset
    assert resolve({"dataset": "cifar100", "model": "vit_base_patch16_224"}).epochs == 20  # official recipe


NARROW = {"epochs": 5, "rank": 8, "lr": 1e-3, "batch_size": 64, "augment": "shift", "lam": 0.999, "align": "ca"}
WIDE = {"epochs": 20, "rank": 10, "lr": 5e-4, "batch_size": 128, "augment": "crop-flip", "lam": 0.95, "align": "ca"}


def _picked(config):
    return {key: getattr(config, key) for key in NARROW}


@pytest.mark.parametrize("dataset", ["default", "mnist", "fashion-mnist", "cifar100", "imagefolder"])
def test_every_dataset_kind_gets_its_backbones_defaults_with_alignment(dataset):
    assert _picked(resolve({"dataset": dataset})) == NARROW  # the bundled backbone: narrow
    assert _picked(resolve({"dataset": dataset, "model": "vit_base_patch16_224", "weights": "none"})) == WIDE
    assert _picked(resolve({"dataset": dataset, "model": "vit_small_patch16_224", "weights": "none"})) == WIDE
    assert _picked(resolve({"dataset": dataset, "model": "vit_tiny_patch16_224", "weights": "none"})) == NARROW


def test_the_width_rule_reads_embed_dim_and_keeps_explicit_values(tmp_path):
    from edgecl.config import NARROW_WIDTH, backbone_width
    assert backbone_width(None, {}) == 128  # the bundled backbone's sidecar
    assert backbone_width("vit_base_patch16_224", {"embed_dim": NARROW_WIDTH}) == NARROW_WIDTH
    assert _picked(resolve({"model": "vit_base_patch16_224", "weights": "none",
                            "model_kwargs": {"embed_dim": 96, "num_heads": 3}})) == NARROW
    assert backbone_width("my_custom_vit", {}) is None
    assert _picked(resolve({"model": "my_custom_vit", "weights": "none"})) == WIDE  # unknown: the paper's
    path = tmp_path / "c.yaml"
    path.write_text("align: none\nlambda: 0.9\n")
    config = resolve({"epochs": 7}, read_yaml(path))
    assert (config.align, config.lam, config.epochs, config.rank) == ("none", 0.9, 7, 8)


@pytest.mark.parametrize("path", [p for p in CONFIGS if not p.stem.endswith("-ca")], ids=lambda p: p.stem)
def test_plain_paper_configs_keep_alignment_off(path):
    assert resolve({}, read_yaml(path)).align == "none"


def test_conflicts_name_the_option():
    frozen = resolve({"rank": 4})
    assert conflicts(frozen, {"rank": 4, "device": "cuda"}) == []
    (msg,) = conflicts(frozen, {"rank": 8})
    assert msg.startswith("option --rank=8 conflicts with this run's rank=4")


def test_unknown_yaml_key_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rnak: 4\n")
    with pytest.raises(ValueError, match="unknown config keys"):
        resolve({}, read_yaml(path))
