"""``manifest.json`` of an export bundle (layout in docs/CONTRACTS.md) and its helpers."""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
from pathlib import Path
from typing import Any, Mapping

from edgecl_runtime.atomic_io import sha256_file
from edgecl_runtime.contract import MANIFEST_NAME, MANIFEST_VERSION, VERIFICATION_PREFIX


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the exported graphs."""
    out = {}
    for name in ("torch", "timm", "onnx", "onnxruntime", "onnxscript", "numpy", "edgecl"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def file_entries(bundle_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256", "bytes"}}`` for every file in the bundle except the manifest and
    ``verification*.json`` (written later, on the device). Files in sub-folders (``deepstream/``,
    ``polygraphy/``) are listed by their bundle-relative POSIX path, so they are checked too."""
    root = Path(bundle_dir)
    entries = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if not path.is_file() or name == MANIFEST_NAME or name.startswith(VERIFICATION_PREFIX):
            continue
        entries[name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return entries


def format_entry(file: str | None, requested: bool, *, gate: Mapping[str, Any] | None = None,
                 error: str = "", **extra: Any) -> dict[str, Any]:
    """One ``formats[f]`` record. Status: export_failed when there is an error, else from the gate."""
    if error:
        status = "export_failed"
    elif gate is None:
        raise ValueError("a format without an export error must have a gate result")
    else:
        status = "passed" if gate["passed"] else "gate_failed"
    return {"file": None if error else file, "requested": bool(requested), "gate": dict(gate) if gate else None,
            "status": status, "error": one_line(error), **extra}


def one_line(text: str, limit: int = 500) -> str:
    """First line of an error message, trimmed to ``limit`` characters."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def build_manifest(
    *, run: str, task: int, classes: list[str], input_spec: Mapping[str, Any], num_classes: int,
    opset: int, exporter: str, files: Mapping[str, Any], formats: Mapping[str, Any],
    pytorch: Mapping[str, Any], thresholds: Mapping[str, Any], extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the manifest dict in the documented key order."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run": run,
        "task": int(task),
        "classes": list(classes),
        "input": dict(input_spec),
        "output": {"name": "logits", "shape": [-1, int(num_classes)]},
        "opset": int(opset),
        "exporter": exporter,
        "files": dict(files),
        "formats": dict(formats),
        "pytorch": dict(pytorch),
        "thresholds": {k: dict(v) for k, v in thresholds.items()},
        "versions": package_versions(),
        **dict(extra or {}),
    }


def failed_formats(manifest: Mapping[str, Any]) -> list[str]:
    """Requested formats whose status is not ``passed`` (empty list: exit code 0)."""
    return [name for name, entry in manifest.get("formats", {}).items()
            if entry.get("requested", True) and entry.get("status") != "passed"]
