"""Load and check an export bundle (``RUN/task-NN/export/``, see docs/CONTRACTS.md).

Checks, in order, each failing with one line that names the problem:

1. ``manifest.json`` exists, is JSON with finite numbers only (NaN/Infinity refused: see
   :mod:`edgecl_runtime.strict_json`), and its ``manifest_version`` is not newer than
   ``MANIFEST_VERSION`` (a newer one means the exporter is ahead of this runtime).
2. With trusted keys, ``manifest.sig`` is a valid signature by one of them.
3. Every file a format names (``formats.<fmt>.file`` and any ``*_file`` field) is a plain name
   inside the bundle that ``files`` lists: a model the manifest does not hash is never run.
4. Every file listed in ``files`` is read once (:mod:`.files`: no symlink, no FIFO, a regular
   file) and has the listed size and sha256; the model bytes are kept for the backend, so what
   runs is what was hashed.
5. ``golden.npz`` decodes from its hashed bytes without pickle and matches the manifest
   (:mod:`.golden`: finite, enough rows, the input spec's shape, one logit per class).
6. A format runs only when its export status is ``passed``, unless the operator names it
   (``allow_failed``, ``--allow-failed-format``).

A file this user may not read (another owner, mode 0600) is one line naming it, not a traceback.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from ..contract import GOLDEN_NAME, MANIFEST_NAME, MANIFEST_VERSION, ONNX_FILES, STATUS_WORDS, base_precision
from ..errors import BundleError, UnreadableBundle
from .files import FileProblem, read_all_checked, read_checked
from .golden import check_golden, decode_golden
from .signing import check_signature
from ..strict_json import NonFiniteNumber, loads_finite


@dataclass
class Bundle:
    """A checked bundle: its folder, manifest and golden arrays.

    ``blobs`` holds the bytes of the model files that were read and hashed while loading, so a
    backend gets exactly those bytes (:meth:`onnx_bytes`), never a second read by path.
    ``signer`` is the fingerprint of the trusted key that signed it (None without trust);
    ``allow_failed`` names the formats the operator lets run although their export status is not
    ``passed``.
    """

    path: Path
    manifest: dict[str, Any]
    golden: dict[str, np.ndarray] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict, repr=False)
    signer: str | None = None
    allow_failed: frozenset = frozenset()

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.manifest["classes"]]

    @property
    def task(self) -> int:
        return int(self.manifest.get("task", 0))

    @property
    def run(self) -> str | None:
        run = self.manifest.get("run")
        return None if run is None else str(run)

    @property
    def input_spec(self) -> dict[str, Any]:
        return dict(self.manifest["input"])

    def check_status(self, precision: str) -> None:
        """One-line BundleError unless the precision's export status is ``passed`` (or overridden).

        A format whose export gate failed is still listed and signed (the manifest records the
        verdict); the device never runs it unless its operator names it in ``allow_failed``.
        """
        prec = base_precision(precision)
        entry = self.manifest.get("formats", {}).get(prec) or {}
        status = entry.get("status")
        if status == "export_failed":
            raise BundleError(f"bundle {self.path} has no {prec} model (export failed: "
                              f"{entry.get('error', '') or 'no detail'}); use another precision")
        if status == "passed" or prec in self.allow_failed:
            return
        name = ONNX_FILES[prec]
        if not entry and name not in self.manifest.get("files", {}):
            if (self.path / name).exists():
                raise BundleError(f"bundle {self.path}: the {prec} model {name} is not listed in the "
                                  "manifest's files (unhashed); re-export the bundle")
            raise BundleError(f"bundle {self.path} has no {prec} model ({name}: not exported); "
                              f"use another precision or re-export with {prec}")
        word = STATUS_WORDS.get(str(status), f"{status!r}" if status is not None else "not recorded")
        raise BundleError(f"bundle {self.path}: the {prec} format's export status is {word}, not passed; "
                          f"it is not run. Use another precision, or pass --allow-failed-format {prec} "
                          "to run it anyway")

    def onnx_path(self, precision: str) -> Path:
        """Path of the ONNX model for fp32/fp16/int8/int8cpu (status checked); error if the bundle has none."""
        prec = base_precision(precision)
        self.check_status(prec)
        entry = self.manifest.get("formats", {}).get(prec, {})
        name = entry.get("file") or ONNX_FILES[prec]
        if name not in self.manifest.get("files", {}):
            raise BundleError(f"bundle {self.path}: the {prec} model {name} is not listed in the "
                              "manifest's files (unhashed); re-export the bundle")
        return self.path / name

    def onnx_bytes(self, precision: str) -> bytes:
        """The precision's ONNX model as the bytes that matched the manifest's sha256.

        Taken from the bytes read while loading when there are some (then released: the backend
        keeps its own copy), else read once now and hashed. Never a path for a backend to reopen.
        """
        name = self.onnx_path(precision).name
        data = self.blobs.pop(name, None)
        self.blobs.clear()
        if data is not None:
            return data
        with readable(self.path):
            try:
                return read_checked(self.path, name, self.manifest["files"][name])
            except FileProblem as exc:
                raise BundleError(f"bundle {self.path}: {exc}; re-copy or re-export it") from None

    def onnx_sha256(self, precision: str) -> str:
        """sha256 recorded in the (checked) manifest for the precision's ONNX."""
        name = self.onnx_path(precision).name
        return str(self.manifest["files"][name].get("sha256", ""))


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


def check_files(bundle_dir: str | os.PathLike[str], manifest: dict[str, Any],
                keep: "set[str] | frozenset[str]" = frozenset()) -> dict[str, bytes]:
    """Verify size and sha256 of every listed file, each read once (one line naming every bad file);
    returns {name: bytes} of the files named in ``keep``, the very bytes that were hashed."""
    return read_all_checked(Path(bundle_dir), manifest["files"], keep, str(bundle_dir))


def load_golden(source: "str | os.PathLike[str] | bytes", spec: Mapping[str, Any] | None = None,
                num_classes: int | None = None) -> dict[str, np.ndarray]:
    """golden.npz (a path, or the bytes already hashed) without pickle, checked by
    :func:`edgecl_runtime.bundle.golden.check_golden` (finite, enough rows, the manifest's shapes)."""
    where = "golden.npz" if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes):
        try:
            source = Path(source).read_bytes()
        except FileNotFoundError:
            raise BundleError(f"{where} is missing; re-export the bundle") from None
        except PermissionError:
            raise
        except OSError as exc:
            raise BundleError(f"{where} cannot be read ({exc.strerror}); re-copy the bundle") from None
    return check_golden(decode_golden(source, where), where, spec, num_classes)


def _model_names(manifest: dict[str, Any]) -> set[str]:
    """The listed files a backend may be handed: every format's ``file``."""
    return {name for _, name in _format_files(manifest) if name in manifest["files"]}


def load_bundle(bundle_dir: str | os.PathLike[str], check_hashes: bool = True,
                trusted: list[Any] | None = None,
                allow_failed: "Iterable[str]" = ()) -> Bundle:
    """Read the manifest, check its signature against ``trusted`` public keys (when given: see
    :mod:`edgecl_runtime.bundle.signing`), check the files formats name, read every listed file
    once and verify its sha256 (``check_hashes=False``: only golden.npz, and later the model a
    backend takes), keep the model bytes, decode golden.npz from its checked bytes.
    ``allow_failed``: formats the operator runs although their export status is not passed."""
    manifest = read_manifest(bundle_dir)
    root = Path(bundle_dir)
    signer = None
    with readable(bundle_dir):
        if trusted is not None:
            signer = check_signature(bundle_dir, manifest, trusted)
        _check_formats(bundle_dir, manifest)
        listed = manifest["files"]
        golden_listed = GOLDEN_NAME in listed
        files = listed if check_hashes else {n: e for n, e in listed.items() if n == GOLDEN_NAME}
        blobs = check_files(bundle_dir, {**manifest, "files": files}, _model_names(manifest) | {GOLDEN_NAME})
    golden = {}
    if golden_listed:
        golden = load_golden(blobs.pop(GOLDEN_NAME), manifest["input"], len(manifest["classes"]))
    elif (root / GOLDEN_NAME).exists():
        raise BundleError(f"bundle {bundle_dir}: golden.npz is not listed in the manifest's files "
                          "(unhashed); re-export the bundle")
    return Bundle(path=root, manifest=manifest, golden=golden, blobs=blobs, signer=signer,
                  allow_failed=frozenset(allow_failed))


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
