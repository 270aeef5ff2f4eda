"""`edgecl report`: every section, the plots, a hand-made export bundle, a baseline, a damaged run."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from edgecl_runtime.atomic_io import sha256_file
from edgecl.cli.app import app
from edgecl.cli.report import report_command

runner = CliRunner()
report_app = typer.Typer(add_completion=False)
report_app.command()(report_command)

SECTIONS = ["## Tasks", "## Run configuration", "## Summary", "## Accuracy matrix", "## Accuracy on seen classes",
            "## Interference", "## DualGPM memory", "## Time per task", "## Export bundles"]
PLOTS = ["report-accuracy-matrix.png", "report-seen-accuracy.png", "report-memory.png"]
HEADER = ("| Format | Status | Size MB | Top-1 | Δ vs PyTorch (pp) | top-1 agreement | max |Δlogit| | "
          "p50 ms | p95 ms | images/s |").replace("max |Δlogit|", "max \\|Δlogit\\|")


def learn(run, config, *args):
    out = runner.invoke(app, ["learn", "--run", str(run), "--config", str(config), "--no-export", "--quiet",
                              "--threads", "1", *args])
    assert out.exit_code == 0, out.output


def report(run, out, *args):
    result = runner.invoke(report_app, ["--run", str(run), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return out.read_text(), json.loads(out.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An InfLoRA run and a SeqLoRA baseline, 2 of 5 tasks each (tiny ViT, one epoch)."""

    from tests.factory import tiny_run_config

    root = tmp_path_factory.mktemp("runs")
    config = tiny_run_config(root)
    before = torch.get_num_threads()
    try:
        for name, method in (("inflora", "inflora"), ("seqlora", "seqlora")):
            learn(root / name, config, "--method", method, "--task", "1")
            learn(root / name, config, "--task", "2")
    finally:
        torch.set_num_threads(before)
    return root


def check_pngs(folder):
    for name in PLOTS:
        with Image.open(folder / name) as img:
            img.verify()
        with Image.open(folder / name) as img:
            assert img.format == "PNG" and img.width >= 400 and img.height >= 300
            assert len(set(np.asarray(img.convert("L")).ravel().tolist())) > 10  # something was drawn


def test_report_has_every_section_and_plot(runs, tmp_path):
    text, data = report(runs / "inflora", tmp_path / "report.md", "--compare", str(runs / "seqlora"))
    for heading in SECTIONS:
        assert heading in text, heading
    check_pngs(tmp_path)
    for name in PLOTS:
        assert f"]({name})" in text
    metrics = json.loads((runs / "inflora" / "metrics.json").read_text())
    assert data["accuracy_matrix"] == metrics["accuracy_matrix"]
    assert data["metrics_source"] == "metrics.json" and data["warnings"] == []
    assert f"| after task 2 | {metrics['accuracy_matrix'][1][0]:.1f} | {metrics['accuracy_matrix'][1][1]:.1f} |" in text
    assert f"| {metrics['final_accuracy']:.2f} |" in text and "Backward transfer" in text and "Forgetting" in text
    assert data["old_space_dim"] == metrics["old_space_dim"] and data["feature_dim"] == 32
    ratio = metrics["interference"][1]["kv_weight_ratio"][1]
    assert f"{ratio:.1e}" in text and "T1: " in text  # per-block ratio and drift of old task 1
    assert [r["task"] for r in data["seconds"]] == [1, 2] and data["seconds"][0]["training"] > 0
    assert "memory update s" in text and "InfLoRA extra" in text
    assert data["config"]["rank"] == 2 and "| `rank` | `2` |" in text
    assert data["compare"]["method"] == "seqlora" and len(data["compare"]["seen_accuracy"]) == 2
    assert "seqlora baseline (%)" in text
    states = [s["state"] for s in data["tasks"]]
    assert states == ["learned", "learned", "not learned", "not learned", "not learned"]
    assert [e["state"] for e in data["exports"]] == ["missing", "missing"]
    assert "no export bundle" in text and "edgecl export --run" in text


def write_bundle(task_dir, run_dir):
    """A bundle with a real FP32 ONNX and a hand-made manifest: fp32 passed, fp16 gate_failed, int8 export_failed."""
    from edgecl.exporters.onnx.export import export_onnx
    from edgecl.vit.model import Normalized, create_vit
    from edgecl.run.tensors import load_tensors

    run = json.loads((run_dir / "run.json").read_text())
    cfg = run["config"]
    vit = create_vit(cfg["model"], 2, cfg["model_kwargs"])
    vit.load_state_dict(load_tensors(task_dir / "weights.safetensors"))
    export = task_dir / "export"
    export.mkdir()
    model = Normalized(vit, cfg["mean"], cfg["std"]).eval()
    export_onnx(model, export / "model.onnx", input_shape=(1, 28, 28))
    shutil.copy(export / "model.onnx", export / "model.fp16.onnx")  # stands in: its latency comes from the manifest
    x = np.random.default_rng(0).random((6, 1, 28, 28), dtype=np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    np.savez(export / "golden.npz", inputs=x, labels=np.zeros(6, np.int64), task_ids=np.ones(6, np.int64), logits=logits)
    files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in sorted(export.iterdir())}
    gate = {"max_abs_diff": 3e-7, "top1_agreement": 1.0, "accuracy": 88.25, "accuracy_delta_pp": 0.0,
            "passed": True, "failed_levels": [], "reason": ""}
    bad = {**gate, "max_abs_diff": 0.2, "top1_agreement": 0.97, "accuracy": 86.5, "accuracy_delta_pp": -1.75,
           "passed": False, "failed_levels": [1, 2, 3], "reason": "level 1: max |dlogit| 0.2 > 0.05"}
    formats = {
        "fp32": {"file": "model.onnx", "requested": True, "gate": gate, "status": "passed", "error": ""},
        "fp16": {"file": "model.fp16.onnx", "requested": True, "gate": bad, "status": "gate_failed", "error": "",
                 "latency": {"p50_ms": 1.25, "p95_ms": 2.5, "images_per_s": 777.0}},
        "int8": {"file": None, "requested": True, "gate": None, "status": "export_failed",
                 "error": "int8 export failed: RuntimeError: calibration diverged"},
    }
    manifest = {"manifest_version": 1, "created": "2026-01-01T00:00:00+00:00", "run": "inflora", "task": 1,
                "classes": ["0", "1"], "input": run["input"], "output": {"name": "logits", "shape": [-1, 2]},
                "opset": 17, "exporter": "torchscript", "files": files, "formats": formats,
                "pytorch": {"accuracy": 88.25, "n_test": 400}}
    (export / "manifest.json").write_text(json.dumps(manifest))
    return files


def test_format_table_statuses_sizes_and_latency(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs / "inflora", run)
    files = write_bundle(run / "task-01", run)
    text, data = report(run, tmp_path / "out" / "report.md", "--latency-iters", "8")
    assert HEADER in text
    assert "| `fp32` | ✅ passed gate |" in text
    assert "| `fp16` | ❎ exported, gate failed |" in text
    assert "| `int8` | ❌ export failed |" in text
    rows = {r["format"]: r for r in data["exports"][0]["formats"]}
    assert rows["fp32"]["size_mb"] == pytest.approx(files["model.onnx"]["bytes"] / 1e6)
    assert rows["fp32"]["latency_source"] == "measured" and rows["fp32"]["latency"]["p50_ms"] > 0
    assert rows["fp32"]["latency"]["p95_ms"] >= rows["fp32"]["latency"]["p50_ms"]
    assert rows["fp16"]["latency_source"] == "manifest" and "| 1.250 | 2.500 | 777 |" in text
    assert rows["fp16"]["delta_pp"] == -1.75 and "| -1.75 |" in text and "| 97.00 % |" in text
    assert rows["int8"]["latency"] is None and "calibration diverged" in text
    assert "`fp32`: measured by `edgecl report` with onnxruntime" in text and "`fp16`: from the manifest" in text
    assert data["exports"][1]["state"] == "missing"  # task 2 still has no bundle
    check_pngs(tmp_path / "out")


def test_damaged_run_is_reported_not_a_crash(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs / "inflora", run)
    (run / "task-02" / "record.json").unlink()  # interrupted or damaged
    shutil.copytree(run / "task-01", run / "task-04")  # a folder after the gap
    (run / ".task-03.partial-abc").mkdir()
    text, data = report(run, tmp_path / "report.md")
    states = {s["task"]: s for s in data["tasks"]}
    assert states[1]["state"] == "learned" and states[2]["state"] == "incomplete"
    assert "no record.json" in states[2]["detail"] and "--task 2 --force" in states[2]["detail"]
    assert states[3]["state"] == "not learned" and "partial folder" in states[3]["detail"]
    assert states[4]["state"] == "stale" and states[5]["state"] == "not learned"
    assert len(data["accuracy_matrix"]) == 1 and data["metrics_source"].startswith("recomputed")
    assert any("metrics.json lists 2 tasks but 1 are complete" in w for w in data["warnings"])
    assert "⚠️ incomplete" in text and "> ⚠️ metrics.json lists 2 tasks" in text
    for heading in SECTIONS:
        assert heading in text
    check_pngs(tmp_path)


def test_run_without_tasks_and_missing_run(runs, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(runs / "inflora" / "run.json", run / "run.json")
    text, data = report(run, tmp_path / "report.md")
    assert data["tasks_done"] == 0 and "0 of 5 tasks learned" in text and "No task learned yet." in text
    check_pngs(tmp_path)
    result = runner.invoke(report_app, ["--run", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no run at" in result.output and "Traceback" not in result.output


def test_roofline_notes_from_bench_records(tmp_path):
    """Each ``edgecl-rt bench`` record beside the manifest becomes one roofline line of the report."""
    import json as _json

    from edgecl.reporting.exports import roofline_notes

    rec = {"backend": "ort", "precision": "int8cpu", "device": "CPU (x86_64, 2 cores)", "batch": 32,
           "threads": 1, "p50_ms": 20.0, "gflop": 1.318, "gflops": 65.9, "peak_gflops": 700.0,
           "peak_fraction": 65.9 / 700.0}
    (tmp_path / "bench-ort-int8cpu-b32.json").write_text(_json.dumps(rec))
    (tmp_path / "bench-ort-fp32-b1.json").write_text(_json.dumps({**rec, "precision": "fp32", "batch": 1,
                                                                  "gflops": None, "gflop": None}))
    (tmp_path / "bench-bad.json").write_text("{")
    notes = roofline_notes(tmp_path)
    assert len(notes) == 3 and "unreadable" in notes[0]
    assert "`fp32`" in notes[1] and "FLOPs unknown" in notes[1]
    assert "`int8cpu`" in notes[2] and "9.4 % of the measured GEMM peak 700 GFLOP/s" in notes[2]
    assert "own roofline" not in notes[2]  # a record from before the float probe
    (tmp_path / "bench-ort-int8cpu-b32.json").write_text(_json.dumps({**rec, "roofline_fraction": 0.123}))
    assert "12.3 % of its own roofline" in roofline_notes(tmp_path)[2]
