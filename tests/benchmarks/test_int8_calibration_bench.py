"""benchmarks/bench_int8_calibration.py reads the INT8 entry of a manifest right: the first try is the
gate before the fallback, and the summary counts first-try passes, passes and float layers."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from rich.console import Console

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_int8_calibration.py"
spec = importlib.util.spec_from_file_location("bench_int8_calibration", SCRIPT)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _manifest(first: float, final: float | None = None, floats: int = 0) -> dict:
    gate = {"top1_agreement": final or first, "accuracy_delta_pp": -0.1, "max_abs_diff": 0.4,
            "passed": (final or first) >= 0.99}
    entry = {"status": "passed" if gate["passed"] else "gate_failed", "gate": gate, "export_seconds": 2.5,
             "float_nodes": [f"n{i}" for i in range(floats)], "quantized_matmul_fraction": 1.0 - 0.05 * floats}
    if final is not None:  # the fallback ran: the manifest keeps the first gate inside it
        entry["fallback"] = {"first_gate": {"top1_agreement": first, "accuracy_delta_pp": -0.3,
                                            "max_abs_diff": 0.9, "passed": False}}
        entry["fallback_seconds"] = 12.0
    return {"formats": {"int8": entry}}


def test_first_try_is_the_gate_before_the_fallback():
    plain = bench.int8_row(_manifest(0.995))
    assert plain["first_passed"] and plain["float_layers"] == 0 and plain["fallback_seconds"] == 0.0
    fell_back = bench.int8_row(_manifest(0.98, final=0.991, floats=3))
    assert not fell_back["first_passed"] and fell_back["first_agreement"] == 0.98
    assert fell_back["final_agreement"] == 0.991 and fell_back["float_layers"] == 3 and fell_back["status"] == "passed"


def test_tables_count_passes_per_method():
    rows = {"minmax": bench.int8_row(_manifest(0.995)), "percentile": bench.int8_row(_manifest(0.98, 0.991, 3)),
            "entropy": bench.int8_row(_manifest(0.97, 0.97, 6))}
    results = {("mnist-ca", 5): rows, ("mnist-none", 5): rows}
    console = Console(width=200, record=True)
    console.print(bench.table(results))
    console.print(bench.summary(results))
    text = console.export_text()
    summary = text[text.index("Per method"):].splitlines()
    cells = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:]] for line in summary if line.count("│") > 3}
    assert cells["minmax"][:3] == ["2/2", "2/2", "0.0"]
    assert cells["percentile"][:3] == ["0/2", "2/2", "3.0"]
    assert cells["entropy"][:3] == ["0/2", "0/2", "6.0"]
