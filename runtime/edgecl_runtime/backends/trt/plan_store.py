"""Device-built TensorRT plans, kept where only the runtime writes and sealed with a device key.

A plan is not in a bundle's signed manifest: a ``model.<p>.plan`` beside a bundle could have been
put there by whoever can write the bundle folder, and its ``.plan.json`` record would vouch for
itself.  So the runtime never takes a plan from a bundle folder.  ``edgecl-rt build`` writes each
plan into the device's plan store, in a folder named after the sha256 of the ONNX file it parsed
(``<root>/plans/<onnx sha256>/model.<precision>[.dla<N>].plan``), and seals its record with an
HMAC-SHA256 under a key that lives only on this device (``<root>/device.key``, mode 0600, in a
0700 folder).  The runtime looks a plan up by the sha256 the (signed) manifest gives for the ONNX,
checks the seal, and checks the record's ONNX sha256 against the manifest's again.  A copy written
with ``--save-engine`` carries the same sealed record, so it is accepted on this device only.

Root: ``$EDGECL_RT_CACHE`` or ``~/.cache/edgecl-rt`` (the timing caches' default folder too).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

from ...errors import EngineError

STORE_ENV = "EDGECL_RT_CACHE"
KEY_NAME = "device.key"
SEAL_FIELD = "device_seal"
KEY_BYTES = 32
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def store_root() -> Path:
    """The folder that holds the device key and the plans (``$EDGECL_RT_CACHE`` or the default)."""
    return Path(os.environ.get(STORE_ENV) or Path.home() / ".cache" / "edgecl-rt")


def stored_plan_path(onnx_sha256: str, precision: str, dla_core: Optional[int] = None,
                     root: Optional[Path] = None) -> Path:
    """Where the plan built from the ONNX with ``onnx_sha256`` lives on this device."""
    if not _SHA256.match(str(onnx_sha256)):
        raise EngineError(f"ONNX sha256 {onnx_sha256!r} is not 64 hex digits; re-export the bundle")
    dla = "" if dla_core is None else f".dla{int(dla_core)}"
    return (root or store_root()) / "plans" / str(onnx_sha256) / f"model.{precision}{dla}.plan"


def _private_dir(path: Path) -> None:
    """Create ``path`` (and parents) readable by this user only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _new_key(base: Path, path: Path) -> None:
    """Write a fresh key under a private temporary name, then link it in: a link never replaces,
    so when two builds race the first key wins and both use it."""
    _private_dir(base)
    fd, name = tempfile.mkstemp(prefix=f".{KEY_NAME}.", dir=base)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(name, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(name)


def device_key(root: Optional[Path] = None, create: bool = False) -> Optional[bytes]:
    """This device's sealing key; made once (``create``) with no-replace, so two builds agree."""
    base = root or store_root()
    path = base / KEY_NAME
    if not path.is_file() and create:
        _new_key(base, path)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EngineError(f"cannot read the device key {path} ({exc.strerror}); run edgecl-rt as the "
                          "user that built the plans")
    if len(key) != KEY_BYTES:
        raise EngineError(f"device key {path} is damaged ({len(key)} bytes); delete {base / 'plans'} "
                          "and the key, then rebuild the plans with `edgecl-rt build BUNDLE`")
    return key


def _mac(record: Dict[str, Any], key: bytes) -> str:
    body = {k: v for k, v in record.items() if k != SEAL_FIELD}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, text.encode("ascii"), hashlib.sha256).hexdigest()


def seal(record: Dict[str, Any], root: Optional[Path] = None) -> Dict[str, Any]:
    """``record`` plus its seal under this device's key (created on first use)."""
    key = device_key(root, create=True)
    assert key is not None
    return {**record, SEAL_FIELD: _mac(record, key)}


def check_seal(record: Dict[str, Any], where: str, root: Optional[Path] = None) -> None:
    """EngineError (one line) unless ``record`` was sealed by this device's key."""
    key = device_key(root)
    given = record.get(SEAL_FIELD)
    if key is None or not isinstance(given, str) or not hmac.compare_digest(given, _mac(record, key)):
        raise EngineError(f"{where} was not built by edgecl-rt on this device (its record carries no valid "
                          "device seal); TensorRT is not given it: rebuild it here with `edgecl-rt build BUNDLE`")


__all__ = ["STORE_ENV", "store_root", "stored_plan_path", "device_key", "seal", "check_seal"]
