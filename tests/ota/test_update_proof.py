"""The proof of an update runs on the staged folder, before anything is published.

A failing golden gate or a rebuilt file whose sha256 differs from the target manifest must leave
neither NEW nor a hidden partial folder, and the sha256 check must hold on its own (not only
because the golden gate happens to hash the files again).
"""
from __future__ import annotations

import pytest

from edgecl_runtime.update import apply as update_apply
from edgecl_runtime.errors import BundleError
from edgecl_runtime.update.apply import apply_update


def _entries(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_proof_that_fails_after_the_rebuild_publishes_nothing(update_copy, tmp_path, monkeypatch):
    base, update = update_copy
    out = tmp_path / "out" / "NEW"
    out.parent.mkdir()

    def failing_gate(stage, *args, **kwargs):
        assert stage != out and not out.exists()  # the gate sees the staged folder, NEW is not there yet
        return {"passed": False, "reason": "planted gate failure"}
    monkeypatch.setattr(update_apply, "verify_bundle", failing_gate)
    with pytest.raises(BundleError, match="planted gate failure"):
        apply_update(base, update, out)
    assert _entries(out.parent) == []


def test_the_rebuilt_files_are_hashed_even_when_the_gate_would_not_look(update_copy, tmp_path, monkeypatch):
    base, update = update_copy
    out = tmp_path / "out" / "NEW"
    out.parent.mkdir()
    real_fill = update_apply.fill_onnx

    def corrupt_fill(*args, **kwargs):
        data = bytearray(real_fill(*args, **kwargs))
        data[-1] ^= 0x01  # a silent bit flip in the rebuild
        return bytes(data)
    monkeypatch.setattr(update_apply, "fill_onnx", corrupt_fill)
    monkeypatch.setattr(update_apply, "verify_bundle", lambda *a, **k: {"passed": True, "reason": ""})
    with pytest.raises(BundleError, match="sha256|altered"):
        apply_update(base, update, out)
    assert _entries(out.parent) == []


def test_a_good_update_publishes_new_and_nothing_else(update_copy, tmp_path):
    base, update = update_copy
    out = tmp_path / "out" / "NEW"
    out.parent.mkdir()
    report = apply_update(base, update, out)
    assert report["gates"] and all(report["gates"].values())
    assert _entries(out.parent) == ["NEW"]
