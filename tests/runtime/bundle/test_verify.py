"""a bundle cannot set its own gate, smuggle NaN, or run a file it does not hash.

The probe: replace ``model.onnx`` with another model, put its sha256 in ``manifest.json`` and
loosen the manifest's ``thresholds``. sha256 then matches, so only the runtime's own thresholds
stand between the swapped model and ``serve``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgecl_runtime.bundle import load_bundle
from edgecl_runtime.predict.classifier import Classifier
from edgecl_runtime.cli import app
from edgecl_runtime.errors import BundleError
from edgecl_runtime.bundle.verify import gate_on_golden, verify_bundle
from tests.runtime.rt_factory import make_bundle, make_onnx, rehash
from tests.runtime.rt_cli import edit_manifest, one_error, runner

LOOSE = {"fp32": {"max_abs_diff": 1e9, "top1_agreement": 0, "accuracy_delta_pp": 100}}


def _swapped(tmp_path: Path) -> Path:
    """A bundle whose model.onnx is another model, re-hashed, with a gate that passes anything."""
    bundle = make_bundle(tmp_path / "export")
    make_onnx(bundle / "model.onnx", k=4, seed=7)  # other weights: other logits
    rehash(bundle)
    edit_manifest(bundle, lambda m: m.update(thresholds=LOOSE))
    return bundle


def test_swapped_model_with_loose_bundle_thresholds_fails_verify(tmp_path):
    bundle = _swapped(tmp_path)
    res = runner.invoke(app, ["verify", str(bundle)])
    assert res.exit_code == 1 and "FAILED: level 1" in res.stdout, res.output
    rec = json.loads((bundle / "verification-ort-fp32.json").read_text())
    assert rec["files"]["ok"] and not rec["passed"]
    assert rec["thresholds"]["max_abs_diff"] == 1e-4 and rec["thresholds_source"] == "runtime defaults"
    assert rec["bundle_thresholds_ignored"] == LOOSE


def test_swapped_model_fails_the_gate_serve_uses(tmp_path):
    """serve's hot swap calls gate_on_golden: the manifest's thresholds must not reach it."""
    clf = Classifier(load_bundle(_swapped(tmp_path)), "ort", "fp32")
    try:
        gate = gate_on_golden(clf.bundle, clf.backend, "fp32")
    finally:
        clf.close()
    assert not gate["passed"] and 1 in gate["failed_levels"]


def test_operator_thresholds_file_is_the_only_way_to_loosen(tmp_path):
    bundle = _swapped(tmp_path)
    operator = tmp_path / "gate.json"
    operator.write_text(json.dumps(LOOSE))
    res = runner.invoke(app, ["verify", str(bundle), "--thresholds", str(operator)])
    assert res.exit_code == 0 and "PASSED" in res.stdout, res.output
    rec = json.loads((bundle / "verification-ort-fp32.json").read_text())
    assert rec["thresholds_source"] == "operator" and rec["thresholds"]["max_abs_diff"] == 1e9
    assert "bundle_thresholds_ignored" not in rec  # the bundle asked for what the operator set


@pytest.mark.parametrize("text", ['{"fp32": {"max_abs_diff": NaN}}', '{"fp32": {"max_abs_diff": 1e999}}',
                                  '{"fp32": {"max_abs": 1}}', '{"fp32": {"max_abs_diff": "big"}}', "[1, 2"])
def test_bad_operator_thresholds_file_is_one_line(tmp_path, text):
    bundle = make_bundle(tmp_path / "export")
    operator = tmp_path / "gate.json"
    operator.write_text(text)
    res = runner.invoke(app, ["verify", str(bundle), "--thresholds", str(operator)])
    assert res.exit_code == 1 and "gate.json" in one_error(res.stderr)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("where", ["thresholds", "pytorch"])
def test_non_finite_number_anywhere_is_refused(tmp_path, literal, where):
    bundle = make_bundle(tmp_path / "export")
    text = (bundle / "manifest.json").read_text()
    if where == "thresholds":
        text = text.replace('"thresholds": {}', f'"thresholds": {{"fp32": {{"max_abs_diff": {literal}}}}}')
    else:
        text = text.replace('"accuracy": 100.0', f'"accuracy": {literal}')
    (bundle / "manifest.json").write_text(text)
    res = runner.invoke(app, ["verify", str(bundle)])
    assert res.exit_code == 1 and "non-finite number" in one_error(res.stderr)
    with pytest.raises(BundleError, match="non-finite"):
        verify_bundle(bundle, write=False)
    assert not list(bundle.glob("verification-*.json"))


def test_format_file_outside_the_bundle_is_refused(tmp_path):
    bundle = make_bundle(tmp_path / "export")
    make_onnx(tmp_path / "outside.onnx", k=4)
    edit_manifest(bundle, lambda m: m["formats"]["fp32"].update(file="../outside.onnx"))
    res = runner.invoke(app, ["predict", str(bundle), str(tmp_path / "any.png")])
    assert res.exit_code == 1 and "points outside the bundle" in one_error(res.stderr)


def test_format_file_not_listed_is_refused(tmp_path):
    bundle = make_bundle(tmp_path / "export")
    make_onnx(bundle / "model.other.onnx", k=4, seed=3)  # inside, but nobody hashed it
    edit_manifest(bundle, lambda m: m["formats"]["fp32"].update(file="model.other.onnx"))
    res = runner.invoke(app, ["verify", str(bundle)])
    assert res.exit_code == 1 and "not listed in files" in res.stdout
    with pytest.raises(BundleError, match=r"formats\.fp32 file model\.other\.onnx is not listed"):
        load_bundle(bundle)


def test_other_file_fields_of_a_format_are_checked_too(tmp_path):
    bundle = make_bundle(tmp_path / "export")
    edit_manifest(bundle, lambda m: m["formats"]["int8"].update(calibration_file="/etc/passwd"))
    with pytest.raises(BundleError, match=r"formats\.int8 file /etc/passwd points outside"):
        load_bundle(bundle)


def test_model_without_format_entry_must_still_be_listed(tmp_path):
    """Without formats.fp16 the runtime falls back to model.fp16.onnx: it must be a hashed file."""
    bundle = make_bundle(tmp_path / "export")

    def drop_fp16(m):
        del m["formats"]["fp16"], m["files"]["model.fp16.onnx"]

    edit_manifest(bundle, drop_fp16)
    res = runner.invoke(app, ["verify", str(bundle), "--precision", "fp16"])
    assert res.exit_code == 1 and "not listed in the manifest's files" in res.stdout
