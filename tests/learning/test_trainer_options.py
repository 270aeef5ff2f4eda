"""--optimizer, --head-lr, --schedule, --weight-decay, --fresh-final-norm: parsing, refusals (one
line, nothing written), the default trainer unchanged, and the fresh LayerNorm."""
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl.config import RunConfig, resolve
from edgecl.errors import ConfigError
from edgecl.learning.learner import lr_at_epoch
from edgecl.learning.optimiser import make_optimiser, set_epoch_rates
from edgecl.learning.schedule import Schedule, parse_schedule
from edgecl.vit.model import final_norm, fresh_final_norm
from tests.factory import tiny_run_config
from tests.factory import tiny_vit

runner = CliRunner()


def test_schedules_parse():
    assert parse_schedule("cosine") == Schedule("cosine")
    assert parse_schedule("cosine-annealing") == Schedule("cosine-annealing")
    assert parse_schedule("multistep:4") == Schedule("multistep", (4,))
    assert [parse_schedule("multistep:2,4").factor(e, 6) for e in range(6)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01])


@pytest.mark.parametrize("text", ["linear", "multistep", "multistep:", "multistep:0", "multistep:4,2",
                                  "multistep:a", "multistep:3,3"])
def test_bad_schedules_are_one_line(text):
    with pytest.raises(ConfigError, match="--schedule .* is not a schedule: use cosine") as info:
        parse_schedule(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("option, message", [
    ({"optimizer": "rmsprop"}, "--optimizer must be one of"), ({"head_lr": 0.0}, "--head-lr must be positive"),
    ({"weight_decay": -1e-3}, "--weight-decay must be >= 0"), ({"schedule": "step"}, "--schedule 'step'")])
def test_bad_trainer_options_are_refused(option, message):
    with pytest.raises(ConfigError, match=message):
        resolve(option)


def test_defaults_are_the_adam_recipe_and_old_run_json_reads_unchanged():
    config = resolve({})
    assert (config.optimizer, config.head_lr, config.schedule, config.weight_decay, config.fresh_final_norm) == (
        "adam", None, "cosine", 0.0, False)
    old = {k: v for k, v in config.to_dict().items()
           if k not in ("optimizer", "head_lr", "schedule", "weight_decay", "fresh_final_norm")}
    assert RunConfig.from_dict(old).to_dict() == config.to_dict()


def test_default_adam_steps_exactly_as_one_group():
    """Two groups at one rate (branches, head) give bit-identical steps to the former single group."""
    torch.manual_seed(0)
    a, b = nn.Parameter(torch.randn(4, 3)), nn.Parameter(torch.randn(5))
    a2, b2 = nn.Parameter(a.detach().clone()), nn.Parameter(b.detach().clone())
    ours = make_optimiser("adam", [a], [b], 5e-4, None, 0.0)
    former = torch.optim.Adam([a2, b2], lr=5e-4, weight_decay=0.0)
    for epoch in range(3):
        set_epoch_rates(ours, parse_schedule("cosine"), epoch, 3)
        for group in former.param_groups:
            group["lr"] = lr_at_epoch(5e-4, epoch, 3)  # the former loop's rate
        for opt, (x, y) in ((ours, (a, b)), (former, (a2, b2))):
            opt.zero_grad()
            ((x ** 3).sum() + (y ** 2).sum()).backward()
            opt.step()
    assert torch.equal(a, a2) and torch.equal(b, b2)


def test_fresh_final_norm_resets_the_affine_of_the_layer_before_the_head():
    for vit in (tiny_vit(), tiny_vit(global_pool="avg")):
        layer = final_norm(vit)
        with torch.no_grad():
            layer.weight.fill_(3.0)
            layer.bias.fill_(-1.0)
        fresh_final_norm(vit)
        assert torch.equal(layer.weight, torch.ones_like(layer.weight)) and not layer.bias.any()
    plain = tiny_vit()
    plain.norm = nn.Identity()
    with pytest.raises(ValueError, match="no final LayerNorm"):
        final_norm(plain)


def test_cli_refusal_writes_nothing(tmp_path):
    run, config = tmp_path / "r", tiny_run_config(tmp_path)
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), "--schedule", "multistep:x",
                              "--no-export", "--quiet", "--threads", "1"])
    assert out.exit_code == 2 and "--schedule 'multistep:x' is not a schedule" in out.output  # a bad flag value
    assert len(out.output.strip().splitlines()) == 1 and not (run / "run.json").exists()
