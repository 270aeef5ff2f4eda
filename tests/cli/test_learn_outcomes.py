"""End to end through `edgecl learn`: what classifier alignment and the golden set really deliver.

Two runs of the bundled default (shipped backbone, real MNIST subset, 1 epoch, 2 tasks) that differ
only in `--align`. Task 1 is identical in both (alignment starts at task 2), so every difference at
task 2 is the alignment's.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from edgecl.cli.app import app
from edgecl.data.run_data import open_data
from edgecl.exporting import calibration_indices
from edgecl.run.models import task_model
from edgecl.run.run import open_run

TASKS = 2


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("outcomes")
    out = {}
    for align in ("ca", "none"):
        run = root / align
        args = ["learn", "--run", str(run), "--align", align, "--epochs", "1", "--formats", "none",
                "--quiet", "--threads", "1"]
        for _ in range(TASKS):
            res = CliRunner().invoke(app, args + ([] if align == "ca" else ["--no-export"]))
            assert res.exit_code == 0, res.output
        out[align] = run
    return out


def _metrics(run) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_alignment_changes_the_heads_and_lifts_final_accuracy(runs):
    ca, none = (load_file(runs[a] / "task-01" / "weights.safetensors") for a in ("ca", "none"))
    assert torch.equal(ca["head.weight"], none["head.weight"])  # task 1: same start
    ca2, none2 = (load_file(runs[a] / "task-02" / "weights.safetensors") for a in ("ca", "none"))
    assert not torch.equal(ca2["head.weight"], none2["head.weight"])
    for key in ca2:  # alignment touches the heads only, never the backbone
        if not key.startswith("head."):
            assert torch.equal(ca2[key], none2[key]), key
    a_ca, a_none = _metrics(runs["ca"])["final_accuracy"], _metrics(runs["none"])["final_accuracy"]
    assert a_ca >= a_none + 10.0, (a_ca, a_none)  # measured here: ~93 vs ~59


def test_golden_set_covers_every_seen_task_and_class(runs):
    run = runs["ca"]
    golden = np.load(run / "task-02" / "export" / "golden.npz", allow_pickle=False)
    labels, task_ids = golden["labels"], golden["task_ids"]
    assert set(task_ids.tolist()) == {1, 2}
    assert set(labels.tolist()) == {0, 1, 2, 3}  # output positions of both tasks' classes
    assert all((labels[task_ids == t] // 2 == t - 1).all() for t in (1, 2))  # 2 classes per task
    assert abs(int((task_ids == 1).sum()) - int((task_ids == 2).sum())) <= 1  # even over tasks
    with torch.no_grad():
        logits = task_model(open_run(run), 2)(torch.from_numpy(golden["inputs"])).numpy()
    assert np.abs(logits - golden["logits"]).max() < 1e-4  # the stored logits are PyTorch's
    first = np.load(run / "task-01" / "export" / "golden.npz", allow_pickle=False)
    assert set(first["task_ids"].tolist()) == {1} and set(first["labels"].tolist()) == {0, 1}


def test_int8_calibration_sample_covers_every_seen_class_evenly(runs):
    run = open_run(runs["ca"])
    data = open_data(run)
    idx = calibration_indices(data, 2, run.seed(2))
    classes = data.position[torch.from_numpy(data.source.train.labels[idx])].numpy()
    counts = np.bincount(classes, minlength=4)
    assert len(idx) == 512 and len(set(idx.tolist())) == 512
    assert counts.min() >= 127 and counts.max() <= 129, counts  # 512 over 4 seen classes
