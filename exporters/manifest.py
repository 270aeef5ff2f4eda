"""``manifest.json`` of an export bundle (layout in docs/CONTRACTS.md): its per-format record
(:class:`FormatEntry`), the file hashes, the assembled document and :func:`failed_formats`.

The manifest itself stays a plain JSON dict (the device reads it as one); each record in it is
built typed and written with ``to_json``, so the keys of a format record live here only.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from edgecl_runtime.atomic_io import sha256_file
from edgecl_runtime.contract import MANIFEST_NAME, MANIFEST_VERSION, VERIFICATION_PREFIX

from .parity.gate import GateResult

if TYPE_CHECKING:  # the quantiser's records; imported lazily so failed_formats stays light
    from .quantize.methods import CalibrationRecord
    from .quantize.records import QuantFields
    from .request import ExportRequest


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


@dataclass(frozen=True)
class FormatEntry:
    """One ``formats.<name>`` record: the file (None when its export failed), whether the user asked
    for it, the gate verdict, the status (export_failed when there is an error, else from the gate),
    a one-line error, and what the format adds: build seconds, INT8 calibration and quantisation."""

    file: str | None
    requested: bool
    gate: GateResult | None
    status: str
    error: str = ""
    export_seconds: float | None = None
    calibration: "CalibrationRecord | None" = None
    quant: "QuantFields | None" = None

    @classmethod
    def gated(cls, file: str, requested: bool, gate: GateResult, seconds: float, **extra: Any) -> "FormatEntry":
        """A written file and its verdict (``extra``: ``calibration``, ``quant``)."""
        return cls(file, bool(requested), gate, "passed" if gate.passed else "gate_failed", "",
                   round(seconds, 3), **extra)

    @classmethod
    def failed(cls, requested: bool, error: str, **extra: Any) -> "FormatEntry":
        """A format whose export failed: no file, no gate, the error's first line."""
        return cls(None, bool(requested), None, "export_failed", one_line(error), **extra)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "requested": self.requested,
                               "gate": None if self.gate is None else self.gate.to_json(),
                               "status": self.status, "error": self.error}
        if self.export_seconds is not None:
            out["export_seconds"] = self.export_seconds
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_json()
        return out if self.quant is None else {**out, **self.quant.to_json()}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> "FormatEntry":
        from .quantize.methods import CalibrationRecord
        from .quantize.records import QuantFields

        gate, cal = record.get("gate"), record.get("calibration")
        return cls(record.get("file"), bool(record.get("requested", True)),
                   None if gate is None else GateResult.from_json(gate), str(record["status"]),
                   str(record.get("error", "")), record.get("export_seconds"),
                   None if cal is None else CalibrationRecord.from_json(cal),
                   QuantFields.from_json(record) if "float_nodes" in record else None)


def one_line(text: str, limit: int = 500) -> str:
    """First line of an error message, trimmed to ``limit`` characters."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def build_manifest(request: "ExportRequest", num_classes: int, files: Mapping[str, Any],
                   formats: Mapping[str, FormatEntry], pytorch: Mapping[str, Any], extra: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """Assemble the manifest dict in the documented key order."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run": request.run_name,
        "task": int(request.task),
        "classes": list(request.classes),
        "input": dict(request.input_spec),
        "output": {"name": "logits", "shape": [-1, int(num_classes)]},
        "opset": int(request.opset),
        "exporter": request.exporter,
        "files": dict(files),
        "formats": {name: entry.to_json() for name, entry in formats.items()},
        "pytorch": dict(pytorch),
        "thresholds": {k: dict(v) for k, v in request.threshold_table.items()},
        "versions": package_versions(),
        **dict(extra),
    }


def failed_formats(manifest: Mapping[str, Any]) -> list[str]:
    """Requested formats whose status is not ``passed`` (empty list: exit code 0)."""
    return [name for name, entry in manifest.get("formats", {}).items()
            if entry.get("requested", True) and entry.get("status") != "passed"]
