"""Device-side verification of a bundle: file integrity + gate levels 1 and 2 on golden inputs.

``sha256`` of every listed file must match the manifest; the backend's logits on
``golden.npz["inputs"]`` are compared with the shipped PyTorch logits (``golden["logits"]``)
using ``gate.evaluate_gate`` (level 3 needs the full labelled test set, which a device does
not have).  Thresholds: DEFAULT_THRESHOLDS overridden by the manifest's ``thresholds``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from . import __version__
from .atomic_io import write_json_atomic
from .backends import Backend, open_backend
from .bundle import Bundle, load_bundle, read_manifest
from .errors import BundleError, RuntimeFailure
from .gate import base_precision, evaluate_gate, merge_thresholds


def record_path(bundle_dir: str | os.PathLike[str], backend: str, precision: str) -> Path:
    """``verification-<backend>-<precision>.json`` next to the manifest."""
    return Path(bundle_dir) / f"verification-{backend}-{base_precision(precision)}.json"


def bundle_thresholds(bundle: Bundle, precision: str,
                      overrides: dict[str, Any] | None = None) -> dict[str, float]:
    """Thresholds for ``precision``: defaults <- manifest ``thresholds`` <- ``overrides``."""
    try:
        table = merge_thresholds(bundle.manifest.get("thresholds") or None)
        if overrides:
            table = merge_thresholds({**table, **overrides})
    except ValueError as exc:
        raise BundleError(f"bundle {bundle.path}: bad thresholds ({exc})") from None
    return table[base_precision(precision)]


def gate_on_golden(bundle: Bundle, backend: Backend, precision: str,
                   thresholds: dict[str, Any] | None = None) -> dict[str, Any]:
    """Levels 1-2 of the gate for ``backend`` on the bundle's golden set."""
    golden = bundle.golden
    if "inputs" not in golden:
        raise BundleError(f"bundle {bundle.path} has no golden.npz; cannot verify, re-export it")
    thr = bundle_thresholds(bundle, precision, thresholds)
    out = backend.run(golden["inputs"])
    return evaluate_gate(precision, golden["logits"], out, thresholds=thr)


def _record(bundle_dir: Path, backend: str, precision: str) -> dict[str, Any]:
    return {"verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "bundle": str(bundle_dir),
            "backend": backend, "precision": base_precision(precision),
            "runtime_version": __version__, "passed": False, "reason": ""}


def verify_bundle(bundle_dir: str | os.PathLike[str], backend: str = "ort",
                  precision: str = "fp32", thresholds: dict[str, Any] | None = None,
                  write: bool = True, **backend_options: Any) -> dict[str, Any]:
    """Full verification; returns the record (``passed``, ``reason``, ``gate``, ``files``...).

    The record is written atomically next to the bundle when ``write`` and the manifest is
    readable (a bundle without a readable manifest is not a bundle: BundleError is raised).
    """
    root = Path(bundle_dir)
    manifest = read_manifest(root)
    rec = _record(root, backend, precision)
    rec.update(task=manifest.get("task"), files={"checked": len(manifest["files"]), "ok": False})
    try:
        bundle = load_bundle(root, check_hashes=True)
        rec["files"]["ok"] = True
        engine = open_backend(bundle, backend, base_precision(precision), **backend_options)
        try:
            rec["device"] = engine.describe()
            rec["thresholds"] = bundle_thresholds(bundle, precision, thresholds)
            rec["gate"] = gate_on_golden(bundle, engine, precision, thresholds)
        finally:
            engine.close()
        rec["passed"] = bool(rec["gate"]["passed"])
        rec["reason"] = rec["gate"]["reason"]
    except RuntimeFailure as exc:
        rec["reason"] = str(exc)
    if write:
        write_json_atomic(record_path(root, backend, precision), rec)
    return rec
