"""benchmarks/gate_table.py: the gate table of bench_learn.py, built from small fake manifests."""
import importlib.util
import json
from pathlib import Path

from rich.console import Console

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gate_table.py"


def _module():
    spec = importlib.util.spec_from_file_location("gate_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gate(top1, diff, delta, passed, reason=""):
    return {"top1_agreement": top1, "max_abs_diff": diff, "accuracy_delta_pp": delta, "passed": passed,
            "reason": reason}


def _write(run: Path, task: int, formats: dict) -> None:
    folder = run / f"task-{task:02d}" / "export"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"task": task, "formats": formats}))


def test_rows_and_pass_count_from_manifests(tmp_path):
    gt = _module()
    ok = {"status": "passed", "requested": True, "export_seconds": 0.5}
    _write(tmp_path / "a", 1, {
        "fp32": {**ok, "gate": _gate(1.0, 2e-6, 0.0, True)},
        "fp16": {**ok, "gate": _gate(1.0, 2e-3, 0.0, True)},
        "int8": {**ok, "gate": _gate(0.9905, 0.11, 0.05, True), "float_nodes": ["n1", "n2", "n3"],
                 "quantized_matmul_fraction": 0.897, "fallback_seconds": 4.0},
    })
    _write(tmp_path / "a", 2, {
        "fp32": {**ok, "gate": _gate(1.0, 3e-6, 0.0, True)},
        "int8": {"status": "gate_failed", "requested": True, "float_nodes": [], "quantized_matmul_fraction": 0.978,
                 "gate": _gate(0.95, 1.7, -2.5, False, "top-1 agreement 0.9500 < 0.99")},
    })
    _write(tmp_path / "b", 1, {"fp32": {**ok, "gate": _gate(1.0, 1e-6, 0.0, True)}})

    rows = gt.gate_rows({"a": tmp_path / "a", "b": tmp_path / "b"})

    assert [(r["run"], r["task"], r["format"]) for r in rows] == [
        ("a", 1, "fp32"), ("a", 1, "fp16"), ("a", 1, "int8"), ("a", 2, "fp32"), ("a", 2, "int8"), ("b", 1, "fp32")]
    fallback, failed = rows[2], rows[4]
    assert fallback["passed"] and fallback["float_layers"] == 3 and fallback["quantized_matmul_fraction"] == 0.897
    assert rows[0]["float_layers"] is None and rows[0]["quantized_matmul_fraction"] is None
    assert not failed["passed"] and failed["status"] == "gate_failed" and failed["float_layers"] == 0
    assert failed["top1_agreement"] == 0.95 and failed["max_abs_diff"] == 1.7 and failed["accuracy_delta_pp"] == -2.5
    assert gt.gate_summary(rows) == (5, 6)
    assert gt.failure_lines(rows) == [
        "a task 2 int8: top-1 agreement 0.9500 < 0.99 (top-1 0.9500, max |Δlogit| 1.7, Δ acc -2.50 pp)"]

    console = Console(width=200, record=True)
    console.print(gt.gate_table(rows))
    text = console.export_text()
    assert "NO" in text and "89.7 %" in text and text.count("yes") == 5


def test_unrequested_formats_are_shown_but_not_counted(tmp_path):
    gt = _module()
    _write(tmp_path / "r", 1, {"fp32": {"status": "passed", "gate": _gate(1.0, 1e-6, 0.0, True)},
                               "fp16": {"status": "export_failed", "requested": False, "error": "boom"}})
    rows = gt.gate_rows({"r": tmp_path / "r"})
    assert len(rows) == 2 and gt.gate_summary(rows) == (1, 1) and gt.failure_lines(rows) == []
    assert rows[1]["reason"] == "boom"
