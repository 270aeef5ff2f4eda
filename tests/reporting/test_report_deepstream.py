"""The report shows what DeepStream's preprocessing costs, from the manifest."""
from __future__ import annotations

import json

from edgecl.reporting.exports import export_section
from edgecl.reporting.markdown import _deepstream


def test_report_line_states_accuracy_change_and_unlabelled_share():
    ds = {"preprocessing": "plain resize of the original image to 28x28", "accuracy_pct": 96.5,
          "accuracy_delta_pp": -1.25, "unlabelled_pct": 0.5}
    line = _deepstream(ds)
    assert "top-1 96.50 %" in line and "-1.25 pp vs PyTorch" in line and "0.50 % left unlabelled" in line
    assert "not measured" in _deepstream({"accuracy_pct": None})
    assert _deepstream(None) == ""  # bundles made before DeepStream accuracy was recorded


def test_export_section_carries_the_manifest_record(tmp_path):
    bundle = tmp_path / "task-01" / "export"
    bundle.mkdir(parents=True)
    ds = {"accuracy_pct": 90.0, "accuracy_delta_pp": 0.0, "unlabelled_pct": 0.0}
    (bundle / "manifest.json").write_text(json.dumps({"formats": {}, "files": {}, "deepstream": ds}))
    assert export_section(tmp_path / "task-01", latency_iters=0)["deepstream"] == ds
