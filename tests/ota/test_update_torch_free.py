"""``edgecl-rt update`` runs with torch and the trainer package unimportable (the device has neither)."""
import os
import subprocess
import sys
from pathlib import Path

from edgecl_runtime.atomic_io import sha256_file

REPO = Path(__file__).resolve().parents[2]


def test_update_applies_without_torch(made_update, tmp_path):
    run, keys, _ = made_update
    for name in ("torch", "edgecl", "safetensors"):
        (tmp_path / "shim" / name).mkdir(parents=True)
        (tmp_path / "shim" / name / "__init__.py").write_text(f"raise ImportError('{name} is forbidden here')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "shim"))
    new = tmp_path / "NEW"
    argv = ["edgecl-rt", "update", str(run / "task-01" / "export"), str(run / "task-02" / "update-from-01"),
            "--out", str(new), "--trust", str(keys / "edgecl-sign.pub")]
    code = f"import sys; sys.argv = {argv!r}; from edgecl_runtime.cli import main; main()"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sha256_file(new / "model.onnx") == sha256_file(run / "task-02" / "export" / "model.onnx")
