"""Bundle loading: manifest version, sha256 of every file, golden without pickle."""
import json
from pathlib import Path

import numpy as np
import pytest

from edgecl_runtime.bundle import fingerprint, load_bundle
from edgecl_runtime.contract import MANIFEST_VERSION
from edgecl_runtime.errors import BundleError
from tests.runtime.rt_factory import rehash


def _edit_manifest(bundle: Path, **changes) -> None:
    path = bundle / "manifest.json"
    m = json.loads(path.read_text())
    m.update(changes)
    path.write_text(json.dumps(m))


def test_loads_a_good_bundle(bundle_template):
    b = load_bundle(bundle_template)
    assert b.task == 1 and b.classes == ["t1c0", "t1c1", "t1c2", "t1c3"]
    assert b.golden["inputs"].shape == (16, 1, 28, 28) and b.golden["logits"].shape == (16, 4)
    assert b.onnx_path("trt_fp16").name == "model.fp16.onnx"


def test_missing_file_is_named(bundle):
    (bundle / "model.int8.onnx").unlink()
    with pytest.raises(BundleError, match=r"model\.int8\.onnx is missing") as e:
        load_bundle(bundle)
    assert "\n" not in str(e.value)


def test_altered_file_is_named(bundle):
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[-1] ^= 0xFF  # same size, one byte flipped: only sha256 can tell
    (bundle / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.onnx was altered \(sha256 mismatch\)"):
        load_bundle(bundle)
    load_bundle(bundle, check_hashes=False)  # explicit opt-out still loads


def test_truncated_file_reports_size(bundle):
    (bundle / "golden.npz").write_bytes(b"xx")
    with pytest.raises(BundleError, match=r"golden\.npz has 2 bytes"):
        load_bundle(bundle)


def test_newer_manifest_version_is_refused(bundle):
    _edit_manifest(bundle, manifest_version=MANIFEST_VERSION + 1)
    with pytest.raises(BundleError, match="upgrade edgecl-rt"):
        load_bundle(bundle)


def test_not_a_bundle_and_bad_json(tmp_path, bundle):
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(tmp_path)
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(bundle)


def test_file_outside_bundle_is_refused(bundle):
    m = json.loads((bundle / "manifest.json").read_text())
    m["files"]["../evil"] = {"sha256": "0" * 64}
    (bundle / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(bundle)


def test_golden_with_pickled_objects_is_refused(bundle):
    np.savez(bundle / "golden.npz", inputs=np.array([object()], dtype=object), logits=np.zeros(1))
    rehash(bundle)
    with pytest.raises(BundleError, match="without pickle"):
        load_bundle(bundle)


def test_export_failed_precision_is_explained(bundle):
    m = json.loads((bundle / "manifest.json").read_text())
    m["formats"]["int8"].update(status="export_failed", error="opset too old")
    (bundle / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="no int8 model.*opset too old"):
        load_bundle(bundle).onnx_path("int8")


def test_fingerprint_changes_with_files(bundle):
    before = fingerprint(bundle)
    assert before == fingerprint(bundle)
    (bundle / "golden.npz").write_bytes(b"changed")
    assert fingerprint(bundle) != before
