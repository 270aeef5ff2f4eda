"""Device-side verification of a bundle: file integrity + gate levels 1 and 2 on golden inputs.

``sha256`` of every listed file must match the manifest; the backend's logits on
``golden.npz["inputs"]`` are compared with the shipped PyTorch logits (``golden["logits"]``)
using ``gate.evaluate_gate`` (level 3 needs the full labelled test set, which a device does
not have).

Thresholds belong to the device, never to the bundle: ``DEFAULT_THRESHOLDS`` of the contract,
overridden only by what the operator passes (``thresholds=`` here, ``--thresholds FILE`` on the
CLI). A manifest's own ``thresholds`` are ignored - whoever can replace ``model.onnx`` and fix
its sha256 could otherwise also set a gate that passes anything - and, when they differ from the
applied ones, reported in the record as ``bundle_thresholds_ignored``.

The record goes to ``verification-<backend>-<precision>.json`` beside the manifest, or to
``record=``. A bundle folder this user cannot write (read-only copy, another owner) does not
fail the verification: the record is then not written and ``record_error`` says why. A bundle
file this user may not read raises UnreadableBundle (one line naming it) and writes no record:
file modes on this device are not a verdict on the bundle.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Mapping

from .. import __version__
from ..atomic_io import write_json_atomic
from ..backends import Backend, open_backend
from .read import Bundle, load_bundle, read_manifest, readable
from ..errors import BundleError, RuntimeFailure, UnreadableBundle
from .gate import base_precision, evaluate_gate, merge_thresholds
from .signing import check_signature
from ..strict_json import NonFiniteNumber, loads_finite


def _record_path(bundle_dir: str | os.PathLike[str], backend: str, precision: str) -> Path:
    """``verification-<backend>-<precision>.json`` next to the manifest."""
    return Path(bundle_dir) / f"verification-{backend}-{base_precision(precision)}.json"


def _runtime_thresholds(precision: str, overrides: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Thresholds for ``precision``: the contract's defaults <- the operator's ``overrides``."""
    try:
        table = merge_thresholds(overrides or None)
    except ValueError as exc:
        raise BundleError(f"bad operator thresholds ({exc}); fix the --thresholds file") from None
    return table[base_precision(precision)]


def load_thresholds(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The operator's thresholds file: JSON ``{precision: {key: value}}``, finite numbers only."""
    p = Path(path)
    try:
        table = loads_finite(p.read_text(encoding="utf-8"))
        merge_thresholds(table)
    except FileNotFoundError:
        raise BundleError(f"thresholds file {p} not found; pass a JSON file like "
                          '{"int8": {"top1_agreement": 0.98}}') from None
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
        detail = str(exc) if isinstance(exc, (NonFiniteNumber, OSError)) else f"{type(exc).__name__}: {exc}"
        raise BundleError(f"thresholds file {p} is not valid ({detail}); it must map precisions to "
                          '{"max_abs_diff", "top1_agreement", "accuracy_delta_pp"} numbers') from None
    return table


def _bundle_thresholds(bundle: Bundle, precision: str,
                      overrides: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Thresholds the gate applies to ``bundle`` (kept for callers): the runtime's, not the bundle's."""
    return _runtime_thresholds(precision, overrides)


def gate_on_golden(bundle: Bundle, backend: Backend, precision: str,
                   thresholds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Levels 1-2 of the gate for ``backend`` on the bundle's golden set, by the runtime's thresholds."""
    golden = bundle.golden
    if "inputs" not in golden:
        raise BundleError(f"bundle {bundle.path} has no golden.npz; cannot verify, re-export it")
    thr = _runtime_thresholds(precision, thresholds)
    out = backend.run(golden["inputs"])
    return evaluate_gate(precision, golden["logits"], out, thresholds=thr)


def _record(bundle_dir: Path, backend: str, precision: str) -> dict[str, Any]:
    return {"verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "bundle": str(bundle_dir),
            "backend": backend, "precision": base_precision(precision),
            "runtime_version": __version__, "passed": False, "reason": ""}


def _ignored(manifest: Mapping[str, Any], thresholds: Mapping[str, Any] | None) -> Any:
    """The manifest's thresholds when present and different from the table the runtime applies."""
    shipped = manifest.get("thresholds")
    if not shipped:
        return None
    try:
        same = merge_thresholds(shipped) == merge_thresholds(thresholds or None)
    except (ValueError, TypeError, AttributeError):
        same = False  # malformed: certainly not what the runtime applies
    return None if same else shipped


def _check(rec: dict[str, Any], root: Path, precision: str, thresholds: Mapping[str, Any] | None,
           trusted: list[Any] | None, backend_options: dict[str, Any]) -> None:
    """Fill ``rec`` with files/device/thresholds/gate; a RuntimeFailure is recorded as the reason."""
    backend = rec["backend"]
    allow_failed = backend_options.pop("allow_failed", ())
    try:
        bundle = load_bundle(root, check_hashes=True, trusted=trusted, allow_failed=allow_failed)
        rec["files"]["ok"] = True
        engine = open_backend(bundle, backend, base_precision(precision), **backend_options)
        try:
            rec["device"] = engine.describe()
            rec["gate"] = gate_on_golden(bundle, engine, precision, thresholds)
        finally:
            engine.close()
        rec["passed"] = bool(rec["gate"]["passed"])
        rec["reason"] = rec["gate"]["reason"]
    except UnreadableBundle:
        raise  # file modes on this device, not a verdict on the bundle: one line, no record
    except RuntimeFailure as exc:
        rec["reason"] = str(exc)


def _write_record(rec: dict[str, Any], path: Path, explicit: bool) -> None:
    """Write ``rec`` to ``path``; a default location that is not writable only sets ``record_error``."""
    try:
        write_json_atomic(path, rec)
    except OSError as exc:
        if explicit:
            raise BundleError(f"cannot write the verification record {path} ({exc.strerror or exc}); "
                              "choose a writable --record PATH") from None
        rec["record"] = None
        rec["record_error"] = (f"record not written: {path.parent} is not writable "
                               f"({exc.strerror or exc}); choose a path with --record PATH")
        return
    rec["record"] = str(path)


def verify_bundle(bundle_dir: str | os.PathLike[str], backend: str = "ort",
                  precision: str = "fp32", thresholds: Mapping[str, Any] | None = None,
                  write: bool = True, *, trusted: list[Any] | None = None,
                  record: str | os.PathLike[str] | None = None,
                  **backend_options: Any) -> dict[str, Any]:
    """Full verification; returns the record (``passed``, ``reason``, ``gate``, ``files``...).

    ``thresholds`` are the operator's overrides of the runtime defaults; ``trusted`` public keys
    make an unsigned or foreign bundle raise BundleError before anything else (no record: it is
    not a bundle this device evaluates). ``allow_failed=("fp16",)`` (a backend option) lets a format
    whose export status is not passed be gated; otherwise it fails with that status. The record is written atomically (``record`` or beside
    the manifest) when ``write``; the returned dict then also carries ``record`` (the path, or
    None with ``record_error``). A bundle without a readable manifest raises BundleError.
    """
    root = Path(bundle_dir)
    applied = _runtime_thresholds(precision, thresholds)
    manifest = read_manifest(root)
    if trusted is not None:
        with readable(root):
            check_signature(root, manifest, trusted)
    rec = _record(root, backend, precision)
    rec.update(task=manifest.get("task"), files={"checked": len(manifest["files"]), "ok": False},
               thresholds=applied, thresholds_source="operator" if thresholds else "runtime defaults")
    if _ignored(manifest, thresholds) is not None:
        rec["bundle_thresholds_ignored"] = manifest["thresholds"]
    _check(rec, root, precision, thresholds, trusted, backend_options)
    if write:
        _write_record(rec, Path(record) if record else _record_path(root, backend, precision), record is not None)
    return rec
