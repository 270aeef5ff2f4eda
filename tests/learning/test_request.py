"""The learn request's contract: every option checked once where it enters (a bad value is one line
and exit 2, nothing written), run.json parsed once per session, and the trainer reading the run's
own config (the optimiser really gets the run's head rate and weight decay)."""
import dataclasses

import pytest
import torch
import yaml
from typer.testing import CliRunner

import edgecl
import edgecl.config
import edgecl.learning.learner
import edgecl.learning.request
import edgecl.options
from edgecl.cli.app import app
from edgecl.config import OPTIONS, RunConfig
from edgecl.errors import OptionError, UsageError
from edgecl.learning.request import EXECUTION_OPTIONS, PLAN_OPTIONS, LearnRequest, learn_request
from edgecl.run.run import Run
from edgecl.run.store import RunStore
from tests.factory import TINY_RUN

runner = CliRunner()


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_RUN))
    return path


FAST = ["--no-export", "--quiet", "--threads", "1"]


def _learn(run, config, *extra):
    return runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), *FAST, *extra])


@pytest.mark.parametrize("flag, value, message", [
    ("--workers", "-1", "--workers must be a non-negative integer, got -1"),
    ("--rank", "0", "--rank must be a positive integer, got 0"),
    ("--threads", "0", "--threads must be a positive integer, got 0"),
    ("--lambda", "1.5", "--lambda must be in (0, 1], got 1.5"),
    ("--amp", "fp8", "--amp must be none or bf16, got 'fp8'"),
    ("--dataset", "nope", "unknown data source 'nope'"),
])
def test_a_bad_flag_is_one_line_exit_2_and_writes_nothing(tmp_path, tiny_config, flag, value, message):
    run = tmp_path / "run"
    out = _learn(run, tiny_config, flag, value)
    lines = out.output.strip().splitlines()
    assert out.exit_code == 2 and len(lines) == 1 and message in lines[0], out.output
    assert not (run / "run.json").exists()


def test_a_bad_value_on_an_existing_run_is_refused_before_the_conflict(tmp_path, tiny_config):
    run = tmp_path / "run"
    assert _learn(run, tiny_config).exit_code == 0
    out = runner.invoke(app, ["learn", "--run", str(run), *FAST, "--workers", "-2"])
    assert out.exit_code == 2 and "--workers must be a non-negative integer" in out.output
    assert RunStore(run).finished_tasks() == [1]


def test_every_given_value_is_checked_exactly_once(tmp_path, tiny_config, monkeypatch):
    checked = []
    real = edgecl.options.problem

    def counting(name, value, spec):
        checked.append(name)
        return real(name, value, spec)

    monkeypatch.setattr(edgecl.config, "problem", counting)
    monkeypatch.setattr(edgecl.learning.request, "problem", counting)
    out = _learn(tmp_path / "run", tiny_config, "--workers", "0", "--head-lr", "0.002", "--schedule", "multistep:1")
    assert out.exit_code == 0, out.output
    # flags (and --threads) once each; the YAML's keys once each; nothing checked again further down
    for name in ("workers", "threads", "head_lr", "schedule", "rank", "epochs", "model_kwargs"):
        assert checked.count(name) == 1, (name, checked)


def test_the_api_checks_its_keywords_before_anything_runs(tmp_path, tiny_config):
    run = tmp_path / "run"
    with pytest.raises(OptionError, match="--workers must be a non-negative integer"):
        edgecl.learn(run, config_file=tiny_config, workers=-1)
    with pytest.raises(UsageError, match="unknown options \\['rnak'\\]"):
        edgecl.learn(run, config_file=tiny_config, rnak=3)
    with pytest.raises(UsageError, match="option workers='2' must be an integer"):
        edgecl.learn(run, config_file=tiny_config, workers="2")
    assert not run.exists()


def test_the_request_is_frozen_and_typed(tmp_path, tiny_config):
    request = learn_request(tmp_path / "r", {"task": 2, "workers": 0, "rank": 3, "sign_key": None},
                            tiny_config)
    assert isinstance(request, LearnRequest) and request.plan.task == 2 and request.execution.workers == 0
    assert request.options.config.rank == 3 and request.options.config.epochs == 1  # flag over YAML
    assert "rank" in request.options.given and "sign_key" not in request.options.given
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.options.config.rank = 4  # type: ignore[misc]
    # one default for the number of tasks: the run's
    assert RunConfig().tasks == edgecl.config.GLOBAL_DEFAULTS["tasks"] == 5


def test_every_option_has_help_and_a_flag_in_the_cli(tmp_path):
    text = runner.invoke(app, ["learn", "--help"], env={"COLUMNS": "250"}).output
    for name, spec in {**PLAN_OPTIONS, **EXECUTION_OPTIONS, **OPTIONS}.items():
        assert spec.help, name
        if spec.cli:
            flag = spec.flags[0].split("/")[0] if spec.flags else "--" + name.replace("_", "-")
            assert flag in text, flag


def test_run_json_is_parsed_once_per_session(tmp_path, tiny_config, monkeypatch):
    reads, parses = [], []
    read_run, from_dict = RunStore.read_run, Run.from_dict.__func__

    def counting_read(self):
        reads.append(self.root)
        return read_run(self)

    def counting_parse(cls, store, data):
        parses.append(store.root)
        return from_dict(cls, store, data)

    monkeypatch.setattr(RunStore, "read_run", counting_read)
    monkeypatch.setattr(Run, "from_dict", classmethod(counting_parse))
    run = tmp_path / "run"
    assert _learn(run, tiny_config).exit_code == 0  # creates the run: written, never read back
    assert (len(reads), len(parses)) == (0, 1)
    reads.clear(), parses.clear()
    assert _learn(run, tiny_config, "--all").exit_code == 0  # tasks 2..5 of an existing run
    assert (len(reads), len(parses)) == (1, 1)


def test_the_optimiser_gets_the_runs_rates_and_weight_decay(tmp_path, tiny_config, monkeypatch):
    made = []
    real = edgecl.learning.learner.make_optimiser

    def recording(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(edgecl.learning.learner, "make_optimiser", recording)
    out = _learn(tmp_path / "run", tiny_config, "--optimizer", "sgd", "--lr", "0.002", "--head-lr", "0.03",
                 "--weight-decay", "0.0005")
    assert out.exit_code == 0, out.output
    (optimiser,) = made
    assert isinstance(optimiser, torch.optim.SGD)
    branches, head = optimiser.param_groups
    assert (branches["base_lr"], head["base_lr"]) == (0.002, 0.03)
    assert branches["weight_decay"] == head["weight_decay"] == 0.0005 and branches["momentum"] == 0.9
