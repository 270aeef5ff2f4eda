"""On a real run: every task stores branch.safetensors (recorded with its sha256),
and task N's stored qkv weights are the reconstruction routine applied to task N-1's and the factors."""
import numpy as np
from safetensors.numpy import load_file

from edgecl_runtime.atomic_io import read_json, sha256_file
from edgecl_runtime.update.math import apply_factors


def qkv(weights):
    return {int(k.split(".")[1]): v for k, v in weights.items() if k.endswith("attn.qkv.weight")}


def test_every_task_keeps_its_factors_in_the_record(tiny_run):
    for task in (1, 2):
        folder = tiny_run / f"task-{task:02d}"
        entry = read_json(folder / "record.json")["files"]["branch.safetensors"]
        assert entry["sha256"] == sha256_file(folder / "branch.safetensors")
        factors = load_file(str(folder / "branch.safetensors"))
        assert factors and all(v.dtype == np.float32 for v in factors.values())


def test_stored_weights_are_the_reconstruction_of_the_previous_task(tiny_run):
    before = load_file(str(tiny_run / "task-01" / "weights.safetensors"))
    after = load_file(str(tiny_run / "task-02" / "weights.safetensors"))
    factors = load_file(str(tiny_run / "task-02" / "branch.safetensors"))
    rebuilt = apply_factors(qkv(before), factors)
    for block, weight in qkv(after).items():
        assert weight.tobytes() == rebuilt[block].tobytes()
    for key in before:  # nothing else in the backbone moved
        if "qkv.weight" not in key and not key.startswith("head"):
            assert before[key].tobytes() == after[key].tobytes(), key
