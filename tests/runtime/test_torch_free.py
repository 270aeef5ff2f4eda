"""The proof that the runtime never needs torch (nor the trainer package ``edgecl``).

The whole runtime suite runs again in a subprocess whose PYTHONPATH starts with shim packages
``torch`` and ``edgecl`` whose ``__init__`` raises ImportError, so any import of either, direct
or transitive, fails the suite.  It runs as a user runs it, ``python -m pytest tests/runtime``:
pytest also loads tests/conftest.py, which therefore imports torch only inside its helpers.
"""
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _blocked_env(tmp_path: Path) -> dict:
    for name in ("torch", "edgecl"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            f"raise ImportError('{name} is forbidden in edgecl_runtime (torch-free proof)')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("PYTEST_ADDOPTS", None)
    return env


def test_runtime_suite_passes_without_torch(tmp_path):
    env = _blocked_env(tmp_path)
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True,
                           text=True, cwd=REPO)
    assert probe.returncode != 0 and "torch-free proof" in probe.stderr  # the shim really bites
    cmd = [sys.executable, "-m", "pytest", str(HERE), "-q", "-p", "no:cacheprovider",
           "--ignore", str(Path(__file__)), "-x"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
    tail = (res.stdout + res.stderr)[-3000:]
    assert res.returncode == 0, tail
    assert " passed" in res.stdout and "error" not in res.stdout.splitlines()[-1], tail


def test_shared_conftest_imports_without_torch(tmp_path):
    """tests/conftest.py (loaded for every test, runtime ones included) and the shared tiny-model
    factory need torch only when a helper is called."""
    env = _blocked_env(tmp_path)
    code = ("import sys, tests.conftest, tests.factory as f; "
            "assert 'torch' not in sys.modules and 'edgecl' not in sys.modules; print(f.TINY['depth'])")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0 and res.stdout.strip() == "2", res.stderr[-2000:]
