"""Load and check an export bundle (``RUN/task-NN/export/``, see docs/CONTRACTS.md).

Checks, in order, each failing with one line that names the problem:

1. ``manifest.json`` exists, is JSON with finite numbers only (NaN/Infinity refused: see
   :mod:`edgecl_runtime.strict_json`), and its ``manifest_version`` is not newer than
   ``MANIFEST_VERSION`` (a newer one means the exporter is ahead of this runtime).
2. With trusted keys, ``manifest.sig`` is a valid signature by one of them.
3. Every file a format names (``formats.<fmt>.file`` and any ``*_file`` field) is a plain name
   inside the bundle that ``files`` lists: a model the manifest does not hash is never run.
4. Every file listed in ``files`` exists inside the bundle with the listed size and sha256
   (size first: cheap, catches truncated copies; sha256 then catches any altered byte).
5. ``golden.npz`` loads without pickle and holds ``inputs`` (N,C,H,W) and ``logits`` (N,K).

A file this user may not read (another owner, mode 0600) is one line naming it, not a traceback.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..atomic_io import sha256_file
from ..contract import GOLDEN_NAME, MANIFEST_NAME, MANIFEST_VERSION, ONNX_FILES, base_precision
from ..errors import BundleError, UnreadableBundle
from .signing import check_signature
from ..strict_json import NonFiniteNumber, loads_finite


@dataclass
class Bundle:
    """A checked bundle: its folder, manifest and golden arrays."""

    path: Path
    manifest: dict[str, Any]
    golden: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.manifest["classes"]]

    @property
    def task(self) -> int:
        return int(self.manifest.get("task", 0))

    @property
    def input_spec(self) -> dict[str, Any]:
        return dict(self.manifest["input"])

    def onnx_path(self, precision: str) -> Path:
        """Path of the ONNX model for fp32/fp16/int8/int8cpu; error if the bundle has none."""
        prec = base_precision(precision)
        entry = self.manifest.get("formats", {}).get(prec, {})
        status = entry.get("status", "passed")
        if status == "export_failed":
            raise BundleError(f"bundle {self.path} has no {prec} model (export failed: "
                              f"{entry.get('error', '') or 'no detail'}); use another precision")
        name = entry.get("file") or ONNX_FILES[prec]
        if not entry and name not in self.manifest.get("files", {}) and not (self.path / name).exists():
            raise BundleError(f"bundle {self.path} has no {prec} model ({name}: not exported); use another "
                              f"precision or re-export with {prec}")
        if name not in self.manifest.get("files", {}):
            raise BundleError(f"bundle {self.path}: the {prec} model {name} is not listed in the "
                              "manifest's files (unhashed); re-export the bundle")
        path = self.path / name
        if not path.is_file():
            raise BundleError(f"bundle {self.path} has no {prec} model ({name} missing); "
                              "use another precision or re-export")
        return path

    def onnx_sha256(self, precision: str) -> str:
        """sha256 recorded in the manifest for the precision's ONNX (else computed)."""
        path = self.onnx_path(precision)
        entry = self.manifest.get("files", {}).get(path.name, {})
        return str(entry.get("sha256") or sha256_file(path))


@contextmanager
def readable(bundle_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a PermissionError while reading the bundle into one line naming the file."""
    try:
        yield
    except PermissionError as exc:
        name = exc.filename or bundle_dir
        raise UnreadableBundle(f"cannot read {name}: permission denied; give the user running edgecl-rt "
                          f"read access to the bundle (e.g. chmod -R a+rX {bundle_dir})") from None


def read_manifest(bundle_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse ``manifest.json`` (finite numbers only) and refuse versions newer than this runtime."""
    with readable(bundle_dir):
        manifest = _parse_manifest(Path(bundle_dir))
    version = manifest.get("manifest_version")
    path = Path(bundle_dir) / MANIFEST_NAME
    if not isinstance(version, int) or version < 1:
        raise BundleError(f"{path}: manifest_version {version!r} is not a positive integer")
    if version > MANIFEST_VERSION:
        raise BundleError(f"{path}: manifest_version {version} is newer than this runtime "
                          f"supports ({MANIFEST_VERSION}); upgrade edgecl-rt")
    for key in ("classes", "input", "files"):
        if key not in manifest:
            raise BundleError(f"{path} lacks the '{key}' field; re-export the bundle")
    if not isinstance(manifest["files"], dict):
        raise BundleError(f"{path}: 'files' must map file names to sha256/bytes; re-export the bundle")
    return manifest


def _parse_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST_NAME
    if not root.is_dir():
        raise BundleError(f"bundle folder {root} does not exist; pass a task's export/ folder")
    if not path.is_file():
        raise BundleError(f"{path} is missing; this is not an export bundle (re-export the task)")
    try:
        manifest = loads_finite(path.read_text(encoding="utf-8"))
    except NonFiniteNumber as exc:
        raise BundleError(f"{path} holds a non-finite number ({exc}); refused, re-export the bundle") from None
    except PermissionError:
        raise
    except (OSError, UnicodeDecodeError, RecursionError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); re-export or re-copy the bundle") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{path} must hold a JSON object; re-export the bundle")
    return manifest


def _format_files(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(format, file name) for every file a format entry names: ``file`` and any ``*_file``."""
    formats = manifest.get("formats", {})
    if not isinstance(formats, dict) or not all(isinstance(e, dict) for e in formats.values()):
        raise BundleError("manifest 'formats' must map format names to objects; re-export the bundle")
    named = []
    for fmt, entry in sorted(formats.items()):
        for key, value in sorted(entry.items()):
            if (key == "file" or key.endswith("_file")) and value is not None:
                named.append((fmt, value))
    return named


def _check_formats(bundle_dir: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
    """Every file a format names must be a listed (hashed) file inside the bundle; one line otherwise."""
    root = Path(bundle_dir).resolve()
    problems: list[str] = []
    for fmt, name in _format_files(manifest):
        if not isinstance(name, str) or not name:
            problems.append(f"formats.{fmt} names a file that is not a string ({name!r})")
        elif root not in (root / name).resolve().parents:
            problems.append(f"formats.{fmt} file {name} points outside the bundle")
        elif name not in manifest["files"]:
            problems.append(f"formats.{fmt} file {name} is not listed in files (unhashed)")
    if problems:
        raise BundleError(f"bundle {bundle_dir}: {'; '.join(problems)}; re-export the bundle")


def check_files(bundle_dir: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
    """Verify size and sha256 of every listed file; one line naming every bad file."""
    root = Path(bundle_dir).resolve()
    problems: list[str] = []
    for name, entry in sorted(manifest["files"].items()):
        path = (root / name).resolve()
        if not isinstance(entry, dict):
            problems.append(f"{name} has no sha256/bytes record")
        elif root not in path.parents:
            problems.append(f"{name} points outside the bundle")
        elif not path.is_file():
            problems.append(f"{name} is missing")
        elif "bytes" in entry and path.stat().st_size != int(entry["bytes"]):
            problems.append(f"{name} has {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        elif sha256_file(path) != str(entry.get("sha256", "")).lower():
            problems.append(f"{name} was altered (sha256 mismatch)")
    if problems:
        raise BundleError(f"bundle {bundle_dir}: {'; '.join(problems)}; re-copy or re-export it")


def load_golden(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Load golden.npz (no pickle) and check the shapes of inputs/logits/labels."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            golden = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise BundleError(f"{path} is missing; re-export the bundle")
    except PermissionError:
        raise
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path} cannot be read without pickle ({exc}); re-export the bundle")
    for key, ndim in (("inputs", 4), ("logits", 2)):
        if key not in golden or golden[key].ndim != ndim:
            raise BundleError(f"{path}: '{key}' must be a {ndim}-D array; re-export the bundle")
    n = golden["inputs"].shape[0]
    for key in ("logits", "labels", "task_ids"):
        if key in golden and golden[key].shape[0] != n:
            raise BundleError(f"{path}: '{key}' has {golden[key].shape[0]} rows, inputs have {n}")
    golden["inputs"] = golden["inputs"].astype(np.float32, copy=False)
    golden["logits"] = golden["logits"].astype(np.float32, copy=False)
    return golden


def load_bundle(bundle_dir: str | os.PathLike[str], check_hashes: bool = True,
                trusted: list[Any] | None = None) -> Bundle:
    """Read the manifest, check its signature against ``trusted`` public keys (when given: see
    :mod:`edgecl_runtime.bundle.signing`), check the files formats name, verify every file's sha256
    (unless told not to), load golden.npz."""
    manifest = read_manifest(bundle_dir)
    root = Path(bundle_dir)
    with readable(bundle_dir):
        if trusted is not None:
            check_signature(bundle_dir, manifest, trusted)
        _check_formats(bundle_dir, manifest)
        if check_hashes:
            check_files(bundle_dir, manifest)
        golden = load_golden(root / GOLDEN_NAME) if (root / GOLDEN_NAME).exists() else {}
    if not golden and GOLDEN_NAME in manifest["files"]:
        raise BundleError(f"bundle {bundle_dir}: golden.npz is missing; re-copy the bundle")
    return Bundle(path=root, manifest=manifest, golden=golden)


def fingerprint(bundle_dir: str | os.PathLike[str]) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime_ns) of the manifest and every listed file: changes when files change.

    The serve watcher re-verifies a rejected bundle only when this tuple differs.
    """
    root = Path(bundle_dir)
    names = [MANIFEST_NAME]
    try:
        names += sorted(json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8")).get("files", {}))
    except (OSError, ValueError, AttributeError):
        pass
    out = []
    for name in names:
        try:
            st = (root / name).stat()
            out.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((name, -1, -1))
    return tuple(out)
