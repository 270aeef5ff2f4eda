"""Two CPU processes (gloo, DDP) learn what one process learns, with ``--augment none``.

Every task of the bundled stream has 1200 training images. With the tiny config's batch of 128
each global batch splits evenly over 2 ranks (64 + 64, last 24 + 24); with a batch of 109 every
batch splits unevenly (55 + 54) and the last global batch holds one image, so rank 1's share of
it is empty. In both cases each step's gradient must be that of the mean loss over the global
batch, so the weights, memories and reported losses match one process to float rounding.

The runs are ``edgecl learn`` (the Typer app, ``--run-dir`` as under torchrun) in processes forked
from this one, with the environment torchrun gives its workers (RANK, WORLD_SIZE, MASTER_ADDR/PORT):
the same code path as ``torchrun --nproc-per-node 2 -m edgecl learn ...`` without paying for
torch, timm and torchvision imports in every process (most of a tiny run's time on 2 CPU cores).
"""
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from edgecl.learning.learner import shard_loss
from edgecl.run.tensors import load_memories, load_tensors

TASKS = 5  # the tiny config's stream; --all learns every task, each from the previous one on disk
TOL = 1e-5
LIMIT_S = 600  # a safety net only: a healthy pair of runs takes seconds


def _edgecl(argv: list[str], env: dict[str, str], log: str) -> None:
    """Child process: this run's environment, stdout and stderr into ``log``, then the CLI."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)
    os.environ.update(env)
    from edgecl.cli.app import app

    app(argv, prog_name="edgecl")  # exits: SystemExit(0) on success


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def learn(tmp_path: Path, config: Path, *args: str) -> tuple[Path, Path]:
    """One run in one process and the same run in two processes (ranks 0, 1), side by side."""
    one, two = tmp_path / "one", tmp_path / "two"
    common = ["learn", "--config", str(config), "--all", "--device", "cpu", "--threads", "1", "--augment", "none",
              "--align", "none", "--no-export", "--quiet", *args]
    port = str(free_port())
    jobs = [([*common, "--run-dir", str(one)], {"WORLD_SIZE": "1"}, tmp_path / "one.log")]
    for rank in range(2):
        env = {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        jobs.append(([*common, "--run-dir", str(two)], env, tmp_path / f"rank{rank}.log"))
    import edgecl.cli.app, edgecl.cli.learn, edgecl.learning.step  # noqa: E401,F401 - imported once, before the forks

    fork = multiprocessing.get_context("fork")
    procs = [fork.Process(target=_edgecl, args=(argv, env, str(log))) for argv, env, log in jobs]
    for p in procs:
        p.start()
    try:
        pending = list(procs)
        while pending and all(p.exitcode in (None, 0) for p in procs):
            ready = multiprocessing.connection.wait([p.sentinel for p in pending], timeout=LIMIT_S)
            assert ready, f"no run finished within {LIMIT_S} s"
            for p in [p for p in pending if p.sentinel in ready]:
                p.join()
                pending.remove(p)
    finally:
        for p in procs:  # after a failure the other rank would wait in a collective
            if p.is_alive():
                p.kill()
            p.join()
    failed = [f"{log.name} exited {p.exitcode}:\n{log.read_text()}" for p, (_, _, log) in zip(procs, jobs)
              if p.exitcode and p.exitcode > 0]  # not those killed above
    assert not failed, "\n".join(failed)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return one, two


def metrics(run: Path, task: int) -> dict:
    return json.loads((run / f"task-{task:02d}" / "metrics.json").read_text())


def assert_same_runs(one: Path, two: Path) -> None:
    for t in range(1, TASKS + 1):
        m1, m2 = metrics(one, t), metrics(two, t)
        assert m1["old_space_dim"] == m2["old_space_dim"], t
        assert m1["memory_kind"] == m2["memory_kind"], t
        assert all(math.isfinite(x) for x in m2["losses"]), (t, m2["losses"])
        for a, b in zip(m1["losses"], m2["losses"], strict=True):
            assert abs(a - b) <= TOL * max(1.0, abs(a)), (t, m1["losses"], m2["losses"])

        w1 = load_tensors(one / f"task-{t:02d}" / "weights.safetensors")
        w2 = load_tensors(two / f"task-{t:02d}" / "weights.safetensors")
        assert w1.keys() == w2.keys()
        for key in w1:
            assert w1[key].shape == w2[key].shape, (t, key)
            assert float((w1[key] - w2[key]).abs().max()) <= TOL, (t, key, float((w1[key] - w2[key]).abs().max()))

        # bases are defined up to rotation within the kept space: compare the projectors
        for b, (p, q) in enumerate(zip(load_memories(one / f"task-{t:02d}" / "memory.safetensors"),
                                       load_memories(two / f"task-{t:02d}" / "memory.safetensors"), strict=True)):
            assert (p.kind, p.old_space_dim) == (q.kind, q.old_space_dim), (t, b)
            gap = float((p.old_space_projector() - q.old_space_projector()).abs().max())
            assert gap <= TOL, (t, b, gap)


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [128, 109], ids=["even-shares", "uneven-shares-empty-last-shard"])
def test_two_processes_reproduce_one(tmp_path, tiny_config, batch_size):
    one, two = learn(tmp_path, tiny_config, "--batch-size", str(batch_size))
    from edgecl.data.run_data import open_data
    from edgecl.run.run import open_run

    data = open_data(open_run(one))
    last = {len(data.indices("train", t)) % batch_size for t in range(1, TASKS + 1)}
    assert last == ({48} if batch_size == 128 else {1})  # 109: rank 1's share of every last batch is empty
    assert_same_runs(one, two)


def test_shard_loss_single_process_is_the_mean_cross_entropy():
    torch.manual_seed(0)
    logits, targets = torch.randn(7, 3), torch.randint(0, 3, (7,))
    loss, total = shard_loss(logits, targets, 7, 1)
    assert torch.equal(loss, nn.functional.cross_entropy(logits, targets))  # bit for bit: resumed runs compare bytes
    assert total == float(loss) * 7


@pytest.mark.parametrize("sizes", [(4, 3), (2, 2, 2), (1, 0), (3, 0, 1)])
def test_shard_losses_average_to_the_global_mean_gradient(sizes):
    """What DDP does (average the ranks' gradients) with shard losses == the global mean's gradient."""
    torch.manual_seed(1)
    n, world = sum(sizes), len(sizes)
    weight = torch.randn(5, 3, requires_grad=True)
    x, targets = torch.randn(n, 5), torch.randint(0, 3, (n,))

    nn.functional.cross_entropy(x @ weight, targets).backward()
    expected, weight.grad = weight.grad.clone(), None

    grads, totals, start = [], 0.0, 0
    for size in sizes:
        part = slice(start, start + size)
        start += size
        loss, total = shard_loss(x[part] @ weight, targets[part], n, world)
        assert math.isfinite(float(loss.detach())) and math.isfinite(total)
        loss.backward()
        grads.append(weight.grad.clone())
        weight.grad = None
        totals += total
    assert torch.allclose(sum(grads) / world, expected, atol=1e-6)
    assert math.isclose(totals / n, float(nn.functional.cross_entropy(x @ weight, targets).detach()), rel_tol=1e-6)
