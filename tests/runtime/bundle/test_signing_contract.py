"""The bytes a signature covers and the trust-folder rules, tested apart from their callers."""
from __future__ import annotations

import json

import pytest

from edgecl_runtime.errors import BundleError
from edgecl_runtime.bundle.signing import (canonical_bytes, check_signed, generate_keypair, load_private_key,
                                           load_trust, sign_manifest)


def test_canonical_bytes_are_sorted_compact_utf8():
    assert canonical_bytes({"b": 1, "a": {"y": [1, 2], "x": "é"}}) == '{"a":{"x":"é","y":[1,2]},"b":1}'.encode()


def test_canonical_bytes_ignore_layout_but_not_values():
    manifest = {"files": {"model.onnx": {"sha256": "ab", "size": 3}}, "task": 2}
    relaid = json.loads(json.dumps(manifest, indent=4))
    assert canonical_bytes(relaid) == canonical_bytes(manifest)
    changed = {**manifest, "task": 3}
    assert canonical_bytes(changed) != canonical_bytes(manifest)


def test_canonical_bytes_refuse_nan():
    with pytest.raises(BundleError, match="NaN"):
        canonical_bytes({"x": float("nan")})


def _keys(tmp_path, names):
    out = {}
    for name in names:
        priv, pub = generate_keypair(tmp_path / name)
        out[name] = (load_private_key(priv), pub)
    return out


def test_a_trust_folder_accepts_a_signer_that_sorts_last(tmp_path):
    keys = _keys(tmp_path, ["old", "new"])
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "a-retired.pub").write_bytes(keys["old"][1].read_bytes())
    (trust / "z-current.pub").write_bytes(keys["new"][1].read_bytes())
    trusted = load_trust(trust)
    assert len(trusted) == 2
    message = canonical_bytes({"task": 5})
    sig = tmp_path / "manifest.sig"
    sig.write_bytes(sign_manifest({"task": 5}, keys["new"][0]))
    check_signed(sig, message, trusted, unsigned="u", garbled="g", mismatch="m")
    sig.write_bytes(sign_manifest({"task": 5}, keys["old"][0]))
    check_signed(sig, message, trusted, unsigned="u", garbled="g", mismatch="m")


def test_a_signature_by_an_untrusted_key_or_of_other_bytes_is_refused(tmp_path):
    keys = _keys(tmp_path, ["ours", "theirs"])
    trusted = load_trust(keys["ours"][1])
    sig = tmp_path / "manifest.sig"
    sig.write_bytes(sign_manifest({"task": 5}, keys["theirs"][0]))
    with pytest.raises(BundleError, match="^m$"):
        check_signed(sig, canonical_bytes({"task": 5}), trusted, unsigned="u", garbled="g", mismatch="m")
    sig.write_bytes(sign_manifest({"task": 5}, keys["ours"][0]))
    with pytest.raises(BundleError, match="^m$"):
        check_signed(sig, canonical_bytes({"task": 6}), trusted, unsigned="u", garbled="g", mismatch="m")
    sig.write_bytes(b"not base64 !!")
    with pytest.raises(BundleError, match="g$"):
        check_signed(sig, canonical_bytes({"task": 5}), trusted, unsigned="u", garbled="g", mismatch="m")
    sig.unlink()
    with pytest.raises(BundleError, match="^u$"):
        check_signed(sig, canonical_bytes({"task": 5}), trusted, unsigned="u", garbled="g", mismatch="m")
