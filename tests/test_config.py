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
    assert resolve({}).epochs == 5  # the bundled default's preset
    assert resolve({"dataset": "cifar100"}).epochs == 20  # official recipe


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
