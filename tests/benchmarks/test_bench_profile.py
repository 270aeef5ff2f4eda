"""benchmarks/bench_profile.py: op kinds and time shares from a profile summary (no timing asserted)."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench_profile():
    sys.path.insert(0, str(BENCH))  # the script imports its sibling timing.py
    try:
        spec = importlib.util.spec_from_file_location("bench_profile", BENCH / "bench_profile.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_kinds(bench_profile):
    assert bench_profile.kind_of("MatMul") == "GEMM fp"
    assert bench_profile.kind_of("MatMul (attention)") == "attention"
    assert bench_profile.kind_of("DynamicQuantizeMatMul") == "GEMM int8"
    assert bench_profile.kind_of("BiasGelu") == "GELU"
    assert bench_profile.kind_of("SomethingNew") == "other"


def test_shares_add_up_with_the_time_outside_kernels(bench_profile):
    prof = {"run_us": 100.0, "ops": {"MatMul": {"us": 50.0}, "FusedMatMul (attention)": {"us": 10.0},
                                     "Softmax": {"us": 5.0}, "Transpose": {"us": 15.0}}}
    sh = bench_profile.shares(prof)
    assert sh["GEMM fp"] == pytest.approx(0.5) and sh["attention"] == pytest.approx(0.15)
    assert sh["layout"] == pytest.approx(0.15) and sh["outside kernels"] == pytest.approx(0.2)
    assert sum(sh.values()) == pytest.approx(1.0)
