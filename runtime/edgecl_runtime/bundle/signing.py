"""Ed25519 signatures over bundle manifests: a device trusts only bundles its operator's key signed.

sha256 in ``manifest.json`` proves that every file is the one the manifest names; it says nothing
about who wrote the manifest. ``manifest.sig`` closes that gap: it is the Ed25519 signature of the
manifest's *canonical bytes* (:func:`canonical_bytes`: JSON with sorted keys, no whitespace, UTF-8,
no NaN/Infinity), so re-indenting the file does not break it, while changing any value does.
Because the manifest carries the size and sha256 of every file, one signature covers the bundle.

Keys are PEM files (PKCS#8 private, SubjectPublicKeyInfo public). The private key is written 0600;
the public key follows the umask, since it is meant to be copied to every device. A trust root is
one public key file or a folder of ``*.pub`` files (any of them may sign: key rotation).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..atomic_io import write_bytes_atomic
from ..contract import MANIFEST_NAME, SIGNATURE_NAME
from ..errors import BundleError

PRIVATE_NAME = "edgecl-sign.key"
PUBLIC_NAME = "edgecl-sign.pub"


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - cryptography is a runtime dependency
        raise BundleError("signed bundles need the 'cryptography' package: pip install cryptography") from None
    return ed25519, serialization, InvalidSignature


def canonical_bytes(manifest: dict[str, Any]) -> bytes:
    """The bytes a signature covers: sorted keys, no spaces, UTF-8, finite numbers only.

    A string that is not Unicode text (a lone surrogate: a ``\\udXXX`` escape, or a file name that
    was not UTF-8) has no UTF-8 bytes, so it can be neither signed nor trusted: one line, no traceback.
    """
    try:
        text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise BundleError("manifest holds a NaN or infinite number; it cannot be signed or trusted") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise BundleError("manifest holds a string that is not valid Unicode (a lone surrogate, e.g. a class "
                          "or file name that is not UTF-8); it cannot be signed or trusted: rename it") from None


def generate_keypair(out_dir: str | os.PathLike[str], *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair into ``out_dir``: (private 0600, public) paths."""
    ed25519, serialization, _ = _crypto()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / PRIVATE_NAME, out / PUBLIC_NAME
    if not overwrite and (private.exists() or public.exists()):
        raise BundleError(f"{out} already holds a signing key; choose another folder (an old key may still be trusted)")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    write_bytes_atomic(private, pem, mode=0o600)
    write_bytes_atomic(public, pub)
    return private, public


def load_private_key(path: str | os.PathLike[str]):
    """The Ed25519 private key in PEM file ``path`` (one-line BundleError otherwise)."""
    ed25519, serialization, _ = _crypto()
    p = Path(path)
    try:
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except FileNotFoundError:
        raise BundleError(f"signing key {p} not found; create one with `edgecl keygen --out DIR`") from None
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{p} is not an unencrypted PEM private key ({exc}); use the .key file "
                          "`edgecl keygen` wrote") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise BundleError(f"{p} is not an Ed25519 key; create one with `edgecl keygen --out DIR`")
    return key


def load_trust(path: str | os.PathLike[str]) -> list[Any]:
    """Trusted Ed25519 public keys: one PEM file, or every ``*.pub`` in a folder."""
    ed25519, serialization, _ = _crypto()
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix == ".pub" and f.is_file())
        if not files:
            raise BundleError(f"no *.pub public keys in trust folder {p}; copy the run's edgecl-sign.pub there")
    elif p.is_file():
        files = [p]
    else:
        raise BundleError(f"trusted key {p} not found; pass the public key file (or a folder of *.pub) from "
                          "`edgecl keygen`")
    keys = []
    for f in files:
        try:
            key = serialization.load_pem_public_key(f.read_bytes())
        except ValueError as exc:
            raise BundleError(f"{f} is not a PEM public key ({exc}); pass the .pub file `edgecl keygen` wrote") from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise BundleError(f"{f} is not an Ed25519 public key; pass the .pub file `edgecl keygen` wrote")
        keys.append(key)
    return keys


def sign_manifest(manifest: dict[str, Any], private_key: Any) -> bytes:
    """``manifest.sig`` contents: base64 of the signature of :func:`canonical_bytes`, one line."""
    return base64.b64encode(private_key.sign(canonical_bytes(manifest))) + b"\n"


def sign_bundle(bundle_dir: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> Path:
    """Sign ``bundle_dir/manifest.json`` with the key in ``key_path``; writes ``manifest.sig`` atomically."""
    bundle = Path(bundle_dir)
    manifest = json.loads((bundle / MANIFEST_NAME).read_text(encoding="utf-8"))
    sig = bundle / SIGNATURE_NAME
    write_bytes_atomic(sig, sign_manifest(manifest, load_private_key(key_path)))
    return sig


def key_fingerprint(key: Any) -> str:
    """sha256 (hex) of a public key's raw bytes: which trusted key signed a bundle, for pinning."""
    _, serialization, _ = _crypto()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def check_signature(bundle_dir: str | os.PathLike[str], manifest: dict[str, Any], trusted: list[Any]) -> str:
    """The fingerprint of the trusted key whose ``manifest.sig`` this is; one-line BundleError otherwise."""
    return check_signed(Path(bundle_dir) / SIGNATURE_NAME, canonical_bytes(manifest), trusted,
                 unsigned=f"bundle {bundle_dir} is not signed ({SIGNATURE_NAME} missing) and --trust is set; "
                          "export it with --sign-key",
                 garbled="re-export the bundle with --sign-key",
                 mismatch=f"bundle {bundle_dir}: {SIGNATURE_NAME} does not match any trusted key; "
                          "the manifest was changed or signed by another key")


def check_signed(sig_path: Path, message: bytes, trusted: list[Any], *, unsigned: str, garbled: str,
                 mismatch: str) -> str:
    """The fingerprint of the one of ``trusted`` keys (any may sign: rotation) whose base64 Ed25519
    signature of ``message`` ``sig_path`` holds; one-line BundleError otherwise. The three texts
    say what to do in each failure."""
    _, _, invalid = _crypto()
    if not sig_path.is_file():
        raise BundleError(unsigned)
    try:
        signature = base64.b64decode(sig_path.read_bytes().strip(), validate=True)
    except ValueError:
        raise BundleError(f"{sig_path} is not a base64 signature; {garbled}") from None
    for key in trusted:
        try:
            key.verify(signature, message)
            return key_fingerprint(key)
        except invalid:
            continue
    raise BundleError(mismatch)
