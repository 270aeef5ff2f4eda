"""Every shipped config resolves to the official InfLoRA recipe it names (one table), and each
recipe's trainer (optimiser, schedule, final LayerNorm, alignment) runs end to end on a tiny model.

The table is transcribed from the published recipes (the official configs/*.json and methods/*.py
of liangyanshuo/InfLoRA, summarised in the project's shared facts.md); a new config must be added
here, so nothing ships unchecked.
"""
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import edgecl
from edgecl.config import read_yaml, resolve
from edgecl.learning.optimiser import make_optimiser, set_epoch_rates
from edgecl.learning.schedule import parse_schedule
from tests.factory import TINY_RUN
from tests.factory import tiny_vit

CONFIGS = Path(__file__).parents[2] / "configs"
ADAM = dict(optimizer="adam", head_lr=None, schedule="cosine", weight_decay=0.0, align="none",
            ca_logit_norm=False, fresh_final_norm=False, blocks=None, batch_size=128)
INFLORA = dict(ADAM, rank=10, lr=5e-4)
IMAGENET_R = dict(INFLORA, epochs=50, lam=0.98)
DOMAINNET = dict(ADAM, tasks=5, rank=30, epochs=5, optimizer="sgd", lr=5e-3, head_lr=1e-2, schedule="multistep:4",
                 lam=0.95)
RECIPES = {
    "cifar100-10": dict(INFLORA, tasks=10, epochs=20, lam=0.95),
    "imagenet-r-5": dict(IMAGENET_R, tasks=5),
    "imagenet-r-10": dict(IMAGENET_R, tasks=10),
    "imagenet-r-20": dict(IMAGENET_R, tasks=20),
    "domainnet-5": DOMAINNET,
    "domainnet-5-b5": dict(DOMAINNET, blocks=5),
    "cifar100-10-ca": dict(ADAM, tasks=10, rank=5, epochs=20, optimizer="sgd", lr=1e-3, head_lr=1e-2,
                           schedule="multistep:18", weight_decay=1e-3, lam=0.95, align="ca", ca_logit_norm=True,
                           fresh_final_norm=True),
    "imagenet-r-10-ca": dict(ADAM, tasks=10, rank=10, epochs=50, optimizer="sgd", lr=1e-3,
                             schedule="cosine-annealing", lam=0.95, align="ca", ca_logit_norm=True),
    "cifar100-10-b5": dict(INFLORA, tasks=10, epochs=20, lr=1e-3, lam=0.95, blocks=5),
    "imagenet-r-5-b5": dict(IMAGENET_R, tasks=5, blocks=5, lam=0.98),
    "imagenet-r-10-b5": dict(IMAGENET_R, tasks=10, blocks=5, lam=0.99),
    "imagenet-r-20-b5": dict(IMAGENET_R, tasks=20, blocks=5, lam=0.98),
}
COMMON = dict(model="vit_base_patch16_224", method="inflora", augment="crop-flip", mean=[0.0] * 3, std=[1.0] * 3,
              seed=0, shuffle_classes=False)


def _config(name: str):
    return resolve({}, read_yaml(CONFIGS / f"{name}.yaml"))


def test_every_config_has_a_recipe():
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_config_resolves_to_the_official_recipe(name):
    resolved = _config(name).to_dict()
    expected = {**COMMON, **RECIPES[name]}
    assert {k: resolved[k] for k in expected} == expected


def _rates(name: str) -> list[tuple[float, float]]:
    """(branch lr, head lr) at every epoch of the config's task, from the real optimiser."""
    c = _config(name)
    branch, head = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    optimiser = make_optimiser(c.optimizer, [branch], [head], c.lr, c.head_lr, c.weight_decay)
    out = []
    for epoch in range(c.epochs):
        set_epoch_rates(optimiser, parse_schedule(c.schedule), epoch, c.epochs)
        out.append(tuple(g["lr"] for g in optimiser.param_groups))
    return out


def test_schedules_match_the_official_schedulers():
    """DomainNet: MultiStepLR([4], 0.1); CIFAR-100 + CA: MultiStepLR([18], 0.1) with heads at 10x;
    ImageNet-R + CA: CosineAnnealingLR(T_max = 50), stepped once per epoch like the official loop."""
    assert _rates("domainnet-5") == [(5e-3, 1e-2)] * 4 + [(pytest.approx(5e-4), pytest.approx(1e-3))]
    cifar = _rates("cifar100-10-ca")
    assert cifar[:18] == [(1e-3, 1e-2)] * 18 and cifar[18:] == [(pytest.approx(1e-4), pytest.approx(1e-3))] * 2
    param = nn.Parameter(torch.zeros(1))
    reference = torch.optim.SGD([param], lr=1e-3)
    annealing = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=50)
    for branch, head in _rates("imagenet-r-10-ca"):
        assert branch == pytest.approx(reference.param_groups[0]["lr"], abs=1e-15) and head == branch
        reference.step()
        annealing.step()
    adam = _rates("imagenet-r-10")
    assert adam[0] == (5e-4, 5e-4) and adam[-1][0] == pytest.approx(5e-4 * 0.015707, rel=1e-4)


def test_sgd_has_the_official_momentum_and_decay():
    c = _config("cifar100-10-ca")
    optimiser = make_optimiser(c.optimizer, [nn.Parameter(torch.zeros(1))], [nn.Parameter(torch.zeros(1))],
                               c.lr, c.head_lr, c.weight_decay)
    assert isinstance(optimiser, torch.optim.SGD)
    assert [(g["momentum"], g["weight_decay"], g["nesterov"]) for g in optimiser.param_groups] == [(0.9, 1e-3, False)] * 2


TRAINER_KEYS = ("optimizer", "head_lr", "schedule", "weight_decay", "fresh_final_norm", "align", "ca_logit_norm",
                "blocks")
# One run per distinct trainer path (the b5 and task-count variants share theirs).
PATHS = {tuple(str(RECIPES[n].get(k)) for k in TRAINER_KEYS): n for n in sorted(RECIPES)}


def _backbone_file(path: Path) -> Path:
    """A tiny backbone whose final LayerNorm is not the identity (weight 2, bias 0.5)."""
    vit = tiny_vit(seed=1)
    with torch.no_grad():
        vit.norm.weight.fill_(2.0)
        vit.norm.bias.fill_(0.5)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(path))
    return path


@pytest.mark.parametrize("name", sorted(PATHS.values()))
def test_recipe_runs_end_to_end_on_a_tiny_model(tmp_path, name):
    """Tasks 1 and 2 of the bundled digits on a 2-block d = 32 ViT with the recipe's trainer
    (batch 256, one epoch): both tasks train (finite losses, merged branches), CA aligns from task 2, and a fresh
    final norm (weight 1, bias 0) replaces the file's (weight 2, bias 0.5) in the stored model."""
    trainer = {k: getattr(_config(name), k) for k in TRAINER_KEYS}
    trainer["blocks"] = None if trainer["blocks"] is None else 1  # blocks 0-4 of 12 -> 1 of 2
    options = {**TINY_RUN, "weights": str(_backbone_file(tmp_path / "tiny.safetensors")), "batch_size": 256,
               **trainer}
    run_dir = tmp_path / name
    edgecl.learn(run_dir, task=1, export=False, device="cpu", threads=1, **options)
    result = edgecl.learn(run_dir, task=2, export=False, device="cpu", threads=1)
    task2 = result.task_metrics[2]
    assert result.run.config.optimizer == trainer["optimizer"] and result.run.config.schedule == trainer["schedule"]
    assert all(torch.isfinite(torch.tensor(task2["losses"]))) and len(task2["accuracy_row"]) == 2
    assert ("alignment" in task2["seconds"]) == (trainer["align"] == "ca")
    before = load_file(str(run_dir / "task-01" / "weights.safetensors"))
    weights = load_file(str(run_dir / "task-02" / "weights.safetensors"))
    assert not torch.equal(before["blocks.0.attn.qkv.weight"], weights["blocks.0.attn.qkv.weight"])  # trained
    fresh = bool(torch.all(weights["norm.weight"] == 1) and torch.all(weights["norm.bias"] == 0))
    assert fresh == trainer["fresh_final_norm"]
