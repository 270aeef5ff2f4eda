"""Resume equivalence: one --all call == separate processes == a run killed mid-task and rerun."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FILES = ("weights.safetensors", "memory.safetensors", "features.safetensors")


def edgecl(run: Path, *args: str, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-u", "-m", "edgecl", "learn", "--run", str(run), "--no-export", "--quiet",
           "--threads", "1", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


def same_tasks(a: Path, b: Path, tasks) -> None:
    for t in tasks:
        for name in FILES:
            assert (a / f"task-{t:02d}" / name).read_bytes() == (b / f"task-{t:02d}" / name).read_bytes(), (t, name)


@pytest.mark.slow
def test_all_equals_separate_processes_equals_killed_and_rerun(tmp_path, tiny_config):
    one, separate, killed = tmp_path / "one", tmp_path / "separate", tmp_path / "killed"
    finish(edgecl(one, "--all", "--config", str(tiny_config), "--epochs", "3"))
    finish(edgecl(separate, "--task", "1", "--config", str(tiny_config), "--epochs", "3"))
    for t in ("2", "3"):
        finish(edgecl(separate, "--task", t))
    same_tasks(one, separate, (1, 2, 3))

    finish(edgecl(killed, "--task", "1", "--config", str(tiny_config), "--epochs", "3"))
    proc = edgecl(killed, "--task", "2")
    deadline = time.time() + 120
    for line in proc.stdout:  # kill -9 once task 2 has started training
        if "task 2/5" in line or time.time() > deadline:
            break
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (killed / "task-01" / "record.json").is_file()
    assert not (killed / "task-02").exists()  # killed while learning: nothing half-written
    finish(edgecl(killed))  # learns the next task: 2
    finish(edgecl(killed, "--task", "3"))
    same_tasks(one, killed, (1, 2, 3))
    assert not list(killed.glob(".task-*partial*"))
