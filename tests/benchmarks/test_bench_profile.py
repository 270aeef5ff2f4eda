"""benchmarks/bench_profile.py: op kinds and time shares from a profile summary (no timing asserted)."""
import pytest

from tests.benchmarks._scripts import load_script


@pytest.fixture(scope="module")
def bench_profile():
    return load_script("bench_profile")


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
