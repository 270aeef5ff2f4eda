"""The INT8 gate across calibration methods (exporters/quantize/methods.py): the requested method first,
the others only when it fails, the first pass ships, and the manifest record says what happened."""
import pytest

from edgecl.exporters.quantize import Int8Options, QuantFields
from edgecl.exporters.quantize.methods import CalibrationRecord, gate_across_methods, methods_to_try
from tests.exporters.conftest import verdict


def _attempts(passing: set[str], calls: list[str]):
    agreement = {"minmax": 0.985, "percentile": 0.991, "entropy": 0.980}

    def attempt(method):
        calls.append(method)
        ok = method in passing
        gate = verdict(ok, agreement[method], reason="" if ok else f"{method} low")
        return gate, QuantFields(("a",) * (2 if ok else 11), 1.0, 0.0)
    return attempt


def test_order_is_the_requested_method_then_the_others():
    assert methods_to_try("minmax") == ["minmax", "percentile", "entropy"]
    assert methods_to_try("entropy") == ["entropy", "minmax", "percentile"]
    with pytest.raises(ValueError, match="unknown calibration method 'kl'"):
        Int8Options(method="kl")  # refused where the options are built, before any method is tried


def test_a_passing_first_choice_costs_nothing_more():
    calls, cal = [], CalibrationRecord(512, Int8Options())
    gate, fields = gate_across_methods("minmax", _attempts({"minmax"}, calls), cal)
    record = cal.to_json()
    assert gate.passed and calls == ["minmax"]
    assert record["method"] == "minmax" and record["requested"] == "minmax" and len(record["tried"]) == 1


def test_the_first_passing_method_ships_and_is_recorded():
    calls, cal = [], CalibrationRecord(512, Int8Options())
    gate, fields = gate_across_methods("minmax", _attempts({"percentile", "entropy"}, calls), cal)
    record = cal.to_json()
    assert gate.passed and calls == ["minmax", "percentile"]  # entropy never tried
    assert record["method"] == "percentile" and record["requested"] == "minmax"
    assert [t["method"] for t in record["tried"]] == ["minmax", "percentile"]
    assert [t["passed"] for t in record["tried"]] == [False, True]
    assert record["tried"][0]["float_nodes"] == 11 and fields.to_json()["float_nodes"] == ["a", "a"]


def test_when_every_method_fails_the_last_file_is_described_and_the_reason_lists_all():
    calls, cal = [], CalibrationRecord(512, Int8Options())
    gate, _ = gate_across_methods("minmax", _attempts(set(), calls), cal)
    record = cal.to_json()
    assert not gate.passed and calls == ["minmax", "percentile", "entropy"]
    assert record["method"] == "entropy"  # the file left on disk is entropy's: the record describes it
    assert gate.top1_agreement == 0.980
    assert "every calibration failed (minmax 98.50 %, percentile 99.10 %, entropy 98.00 %)" in gate.reason
