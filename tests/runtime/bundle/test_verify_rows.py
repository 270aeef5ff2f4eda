"""The device gate compares every golden row, not a prefix of them."""
from __future__ import annotations

import numpy as np
import pytest

from edgecl_runtime.bundle.verify import verify_bundle
from tests.runtime.rt_factory import make_bundle, rehash


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
