"""Contracts that whole-model tests never exercised: a prefix-sharing sibling of an allowed root,
one late golden row, and rejection of the first untrusted key of a rotated folder."""
from __future__ import annotations

import numpy as np
import pytest

from edgecl_runtime.errors import ImageError
from edgecl_runtime.serve_paths import AllowedRoots
from edgecl_runtime.verify import verify_bundle
from tests.runtime.rt_factory import make_bundle, rehash


def test_a_sibling_that_shares_the_allowed_roots_prefix_is_outside(tmp_path, monkeypatch):
    allowed, evil = tmp_path / "allowed", tmp_path / "allowed-evil"
    allowed.mkdir()
    evil.mkdir()
    (allowed / "ok.png").write_bytes(b"x")
    (evil / "x.png").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    roots = AllowedRoots(["allowed"])
    assert roots.resolve("allowed/ok.png") == (allowed / "ok.png").resolve()
    for name in ("allowed-evil/x.png", str(evil / "x.png"), "allowed/../allowed-evil/x.png"):
        with pytest.raises(ImageError, match="outside the folders"):
            roots.resolve(name)


@pytest.mark.parametrize("row", [8, 15, 23])
def test_one_perturbed_late_golden_row_fails_the_device_gate(tmp_path, row):
    bundle = make_bundle(tmp_path / "export", n_golden=24)
    assert verify_bundle(bundle, "ort", "fp32", write=False)["passed"]
    with np.load(bundle / "golden.npz") as npz:
        golden = {k: npz[k] for k in npz.files}
    golden["logits"][row, 0] += 0.5  # far above the FP32 threshold, one element of one row
    np.savez(bundle / "golden.npz", **golden)
    rehash(bundle)
    rec = verify_bundle(bundle, "ort", "fp32", write=False)
    assert not rec["passed"], rec
