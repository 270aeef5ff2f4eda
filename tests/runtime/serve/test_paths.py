"""Containment of serve's allowed roots: a real-path check, never a string prefix."""
from __future__ import annotations

import pytest

from edgecl_runtime.errors import ImageError
from edgecl_runtime.serve.paths import AllowedRoots


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
