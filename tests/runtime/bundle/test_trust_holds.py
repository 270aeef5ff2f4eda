"""Trust that holds under a swap, a NaN and a failed format: the bundle side.

* the bytes hashed at load are the bytes a backend runs: a model renamed over the checked one
  afterwards is never run (deterministic: the swap is made between load and open);
* golden.npz with NaN, too few rows or another shape than the manifest's input spec is refused,
  and every gate comparison fails on NaN;
* a format whose export status is not passed is refused unless the operator names it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgecl_runtime.backends import open_backend
from edgecl_runtime.bundle import evaluate_gate, load_bundle
from edgecl_runtime.bundle.verify import verify_bundle
from edgecl_runtime.cli import app
from edgecl_runtime.errors import BundleError
from tests.runtime.rt_cli import runner
from tests.runtime.rt_factory import make_onnx, rehash


def _swap_model(bundle: Path, name: str = "model.onnx") -> None:
    """Rename another (same-shaped, other-weights) model over ``name``: what an attacker does."""
    evil = make_onnx(bundle.parent / f"evil-{name}", 4, 1, "fp32", seed=7)
    os.replace(evil, bundle / name)


def test_model_swapped_after_the_check_is_not_run(bundle):
    loaded = load_bundle(bundle)
    _swap_model(bundle)  # between the sha256 check and the backend's open
    engine = open_backend(loaded, "ort", "fp32")
    out = engine.run(loaded.golden["inputs"])
    np.testing.assert_allclose(out, loaded.golden["logits"], atol=1e-5)  # the signed model ran


def test_model_swapped_after_load_without_hash_pass_is_still_checked(bundle):
    loaded = load_bundle(bundle, check_hashes=False)
    _swap_model(bundle)
    with pytest.raises(BundleError, match=r"model\.onnx was altered"):
        open_backend(loaded, "ort", "fp32")


def test_verify_gates_the_bytes_it_hashed(bundle, monkeypatch):
    import edgecl_runtime.bundle.verify as verify_mod

    original = verify_mod.open_backend

    def swap_then_open(b, *args, **kw):
        _swap_model(bundle)
        return original(b, *args, **kw)

    monkeypatch.setattr(verify_mod, "open_backend", swap_then_open)
    rec = verify_bundle(bundle, write=False)
    assert rec["passed"], rec["reason"]  # the checked model passes; the swapped one never ran


def _golden(bundle: Path, **arrays) -> None:
    with np.load(bundle / "golden.npz") as npz:
        data = {k: npz[k] for k in npz.files}
    data.update(arrays)
    np.savez(bundle / "golden.npz", **data)
    rehash(bundle)


def test_nan_in_golden_logits_is_refused(bundle):
    with np.load(bundle / "golden.npz") as npz:
        logits = npz["logits"].copy()
    logits[0, 0] = np.nan
    _golden(bundle, logits=logits)
    with pytest.raises(BundleError, match="'logits' holds NaN"):
        load_bundle(bundle)


def test_nan_in_golden_inputs_is_refused(bundle):
    with np.load(bundle / "golden.npz") as npz:
        inputs = npz["inputs"].copy()
    inputs[0, 0, 0, 0] = np.inf
    _golden(bundle, inputs=inputs)
    with pytest.raises(BundleError, match="'inputs' holds NaN"):
        load_bundle(bundle)


def test_one_row_golden_is_refused(bundle):
    with np.load(bundle / "golden.npz") as npz:
        data = {k: npz[k][:1] for k in npz.files}
    _golden(bundle, **data)
    with pytest.raises(BundleError, match="1 rows, fewer than"):
        load_bundle(bundle)


def test_golden_of_another_shape_than_the_input_spec_is_refused(bundle):
    with np.load(bundle / "golden.npz") as npz:
        inputs = npz["inputs"]
    _golden(bundle, inputs=np.repeat(inputs, 3, axis=1))
    with pytest.raises(BundleError, match="input spec says"):
        load_bundle(bundle)


def test_golden_logits_wider_than_the_class_list_are_refused(bundle):
    with np.load(bundle / "golden.npz") as npz:
        logits = npz["logits"]
    _golden(bundle, logits=np.concatenate([logits, logits[:, :1]], axis=1))
    with pytest.raises(BundleError, match="5 columns, the manifest lists 4 classes"):
        load_bundle(bundle)


def test_nan_reference_logit_fails_level_1():
    out = np.array([[0.0, 5.0, 1.0]] * 8, np.float32)
    ref = out.copy()
    ref[0, 1] = np.nan  # argmax still agrees; the difference is NaN
    gate = evaluate_gate("fp32", ref, out)
    assert not gate["passed"] and 1 in gate["failed_levels"]


def test_nan_threshold_fails_every_level_rather_than_passing():
    out = np.array([[0.0, 5.0, 1.0]] * 8, np.float32)
    table = {"max_abs_diff": float("nan"), "top1_agreement": float("nan"), "accuracy_delta_pp": float("nan")}
    gate = evaluate_gate("fp32", out, out, out, out, np.ones(8, np.int64), thresholds=table)
    assert not gate["passed"] and gate["failed_levels"] == [1, 2, 3]


def _set_status(bundle: Path, fmt: str, status: str) -> None:
    path = bundle / "manifest.json"
    m = json.loads(path.read_text())
    m["formats"][fmt]["status"] = status
    path.write_text(json.dumps(m))


def test_gate_failed_format_is_not_run_without_the_override(bundle):
    _set_status(bundle, "fp16", "gate_failed")
    with pytest.raises(BundleError, match="export status is gate failed.*--allow-failed-format fp16"):
        open_backend(load_bundle(bundle), "ort", "fp16")
    engine = open_backend(load_bundle(bundle, allow_failed=["fp16"]), "ort", "fp16")
    assert engine.precision == "fp16"


def test_unknown_or_missing_status_is_not_run(bundle):
    _set_status(bundle, "int8", "weird")
    with pytest.raises(BundleError, match="export status is 'weird'"):
        load_bundle(bundle).onnx_bytes("int8")


@pytest.mark.parametrize("command", ["verify", "predict", "bench"])
def test_cli_refuses_a_failed_format_with_one_line_and_takes_the_override(bundle, tmp_path, command):
    from PIL import Image

    _set_status(bundle, "fp16", "gate_failed")
    image = tmp_path / "a.png"
    Image.new("L", (28, 28), 100).save(image)
    extra = [str(image)] if command == "predict" else []
    base = [command, str(bundle), *extra, "--precision", "fp16"]
    if command == "bench":
        base += ["--iters", "1", "--warmup", "0"]
    refused = runner.invoke(app, base)
    assert refused.exit_code == 1 and "gate failed" in refused.stdout + refused.stderr
    assert "--allow-failed-format fp16" in refused.stdout + refused.stderr
    allowed = runner.invoke(app, [*base, "--allow-failed-format", "fp16"])
    assert allowed.exit_code == 0, allowed.stdout + allowed.stderr
