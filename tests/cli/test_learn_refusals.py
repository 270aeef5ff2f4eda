"""Every refusal of `edgecl learn` / `edgecl status`: the message and the exit code."""
import json

from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl.run.store import RunStore

runner = CliRunner()


def learn(run, *args):
    return runner.invoke(app, ["learn", "--run", str(run), "--no-export", "--quiet", "--threads", "1", *args])


def test_learn_first_task_then_refusals(tmp_path, tiny_config):
    run = tmp_path / "run"
    out = learn(run, "--task", "3", "--config", str(tiny_config))
    assert out.exit_code == 2 and "task 3 needs task 2 first: the next task to learn is 1" in out.output
    assert not (run / "task-01").exists()

    out = learn(run, "--config", str(tiny_config))
    assert out.exit_code == 0, out.output
    assert (run / "task-01" / "weights.safetensors").is_file()
    assert "all seen" in out.output
    config = json.loads((run / "run.json").read_text())
    assert config["task_classes"][0] == [0, 1] and config["config"]["rank"] == 2

    out = learn(run, "--task", "1")
    assert out.exit_code == 2 and "task 1 is already learned: add --force" in out.output

    out = learn(run, "--rank", "4")
    assert out.exit_code == 2 and "option --rank=4 conflicts with this run's rank=2" in out.output

    out = learn(run, "--lambda", "0.5")
    assert out.exit_code == 2 and "--lambda" in out.output

    out = learn(run, "--task", "9")
    assert out.exit_code == 2 and "task 9 does not exist: this run has tasks 1..5" in out.output

    out = learn(run, "--task", "2", "--all")
    assert out.exit_code == 2 and "either --task N or --all" in out.output

    before = (run / "task-01" / "weights.safetensors").read_bytes()
    out = learn(run, "--task", "1", "--force")
    assert out.exit_code == 0 and "discarded tasks [1]" in out.output
    assert (run / "task-01" / "weights.safetensors").read_bytes() == before  # same seed, same result

    out = runner.invoke(app, ["status", "--run", str(run)])
    assert out.exit_code == 0 and "tasks done: 1/5" in out.output and "--task 2" in out.output


def test_lock_refuses_a_second_learner(tmp_path, tiny_config):
    run = tmp_path / "run"
    store = RunStore(run)
    with store.lock():
        out = learn(run, "--config", str(tiny_config))
    assert out.exit_code == 1 and "is locked by pid" in out.output


def test_corrupt_task_file_is_caught(tmp_path, tiny_config):
    run = tmp_path / "run"
    assert learn(run, "--config", str(tiny_config)).exit_code == 0
    weights = run / "task-01" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    out = learn(run)
    assert out.exit_code == 1 and "does not match its checksum" in out.output
    assert not (run / "task-02").exists()


def test_bad_inputs(tmp_path, tiny_config):
    out = learn(tmp_path / "a", "--dataset", "nope", "--weights", "none", "--model", "vit_tiny_patch16_224")
    assert out.exit_code != 0 and "nope" in out.output and "Traceback" not in out.output
    out = learn(tmp_path / "b", "--config", str(tmp_path / "missing.yaml"))
    assert out.exit_code == 1 and "config file not found" in out.output
    out = learn(tmp_path / "c", "--config", str(tiny_config), "--method", "ewc")
    assert out.exit_code == 2 and "--method must be one of" in out.output
    assert not (tmp_path / "c" / "run.json").exists()
    out = learn(tmp_path / "d", "--config", str(tiny_config), "--tasks", "3")
    assert out.exit_code == 2 and "cannot be split into 3 equal tasks" in out.output
    out = runner.invoke(app, ["status", "--run", str(tmp_path / "none")])
    assert out.exit_code == 2 and "no run at" in out.output
    out = learn(tmp_path / "e", "--config", str(tiny_config), "--device", "tpu")
    assert out.exit_code == 2 and "--device must be" in out.output


def test_unfinished_task_folder_is_replaced(tmp_path, tiny_config):
    run = tmp_path / "run"
    assert learn(run, "--config", str(tiny_config)).exit_code == 0
    assert learn(run).exit_code == 0
    (run / "task-02" / "record.json").unlink()  # task 2 no longer counts as finished
    out = runner.invoke(app, ["status", "--run", str(run)])
    assert "tasks done: 1/5" in out.output
    out = learn(run)
    assert out.exit_code == 0, out.output
    assert "removed unfinished task folders [2]" in out.output
    assert (run / "task-02" / "record.json").is_file()
