"""Exactly one ONNX Runtime flavour: both (or none) is one line before a session is made."""
import pytest

from edgecl_runtime.backends import ort as ort_backend
from edgecl_runtime.errors import RuntimeFailure


def test_both_flavours_installed_is_refused_in_one_line(monkeypatch, bundle_template):
    monkeypatch.setattr(ort_backend, "installed_flavours", lambda: ["onnxruntime", "onnxruntime-gpu"])
    with pytest.raises(RuntimeFailure, match=r"both onnxruntime and onnxruntime-gpu.*onnxruntime#26996.*"
                                             r"pip uninstall -y onnxruntime onnxruntime-gpu") as info:
        ort_backend.OrtBackend(bundle_template / "model.onnx")
    assert "\n" not in str(info.value)


def test_no_flavour_names_what_to_install(monkeypatch, bundle_template):
    monkeypatch.setattr(ort_backend, "installed_flavours", lambda: [])
    with pytest.raises(RuntimeFailure, match=r"not installed: pip install './runtime\[ort\]'"):
        ort_backend.OrtBackend(bundle_template / "model.onnx")


def test_one_flavour_runs(bundle_template):
    assert len(ort_backend.installed_flavours()) == 1
    ort_backend.OrtBackend(bundle_template / "model.onnx").close()
