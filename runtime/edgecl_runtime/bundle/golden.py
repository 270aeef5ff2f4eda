"""``golden.npz``: decoded without pickle from the bytes that were hashed, then held to the manifest.

Why so strict: the golden set is what the device gate compares against. A NaN in the shipped
logits makes ``|out - ref|`` NaN, and a NaN compares False with every threshold, so level 1
would never fail; a one-row set makes level 2 meaningless; inputs of another shape than the
manifest's input spec test some other model. Each of these is refused with one line: finite
inputs and logits only, at least ``MIN_GOLDEN_ROWS`` rows, inputs (N, C, H, W) as the input spec
says, logits (N, K) with K the number of classes.
"""
from __future__ import annotations

import io
from typing import Any, Mapping, Optional

import numpy as np

from ..errors import BundleError

MIN_GOLDEN_ROWS = 2  # one row makes top-1 agreement all or nothing; the exporter writes as many as the test sets hold (tiny runs: 2)


def decode_golden(data: bytes, where: str) -> dict[str, np.ndarray]:
    """The arrays of a golden.npz given as bytes (no pickle); one-line BundleError otherwise."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise BundleError(f"{where} cannot be read without pickle ({exc}); re-export the bundle") from None


def check_golden(golden: dict[str, np.ndarray], where: str, spec: Optional[Mapping[str, Any]] = None,
                 num_classes: Optional[int] = None) -> dict[str, np.ndarray]:
    """Shapes, row counts and finiteness of ``inputs``/``logits`` (float32 on return); against the
    manifest's input ``spec`` and ``num_classes`` when given."""
    for key, ndim in (("inputs", 4), ("logits", 2)):
        if key not in golden or golden[key].ndim != ndim:
            raise BundleError(f"{where}: '{key}' must be a {ndim}-D array; re-export the bundle")
        if golden[key].dtype.kind not in "fiu":
            raise BundleError(f"{where}: '{key}' holds {golden[key].dtype} values, not numbers; re-export the bundle")
    n = golden["inputs"].shape[0]
    for key in ("logits", "labels", "task_ids"):
        if key in golden and golden[key].shape[0] != n:
            raise BundleError(f"{where}: '{key}' has {golden[key].shape[0]} rows, inputs have {n}")
    if not n >= MIN_GOLDEN_ROWS:
        raise BundleError(f"{where} has {n} rows, fewer than the {MIN_GOLDEN_ROWS} a gate needs; "
                          "re-export the bundle")
    golden["inputs"] = golden["inputs"].astype(np.float32, copy=False)
    golden["logits"] = golden["logits"].astype(np.float32, copy=False)
    for key in ("inputs", "logits"):
        if not np.isfinite(golden[key]).all():
            raise BundleError(f"{where}: '{key}' holds NaN or infinite values; refused (a NaN turns the "
                              "gate off), re-export the bundle")
    _check_against_manifest(golden, where, spec, num_classes)
    return golden


def _check_against_manifest(golden: dict[str, np.ndarray], where: str, spec: Optional[Mapping[str, Any]],
                            num_classes: Optional[int]) -> None:
    """Inputs (C, H, W) as the input spec's shape says; logits as wide as the class list."""
    shape = list((spec or {}).get("shape") or [])
    if spec is not None and len(shape) == 4 and all(isinstance(d, int) for d in shape[1:]):
        if tuple(golden["inputs"].shape[1:]) != tuple(shape[1:]):
            raise BundleError(f"{where}: inputs are {tuple(golden['inputs'].shape[1:])} per row, the manifest's "
                              f"input spec says {tuple(shape[1:])}; re-export the bundle")
    elif spec is not None:
        raise BundleError(f"{where}: the manifest's input shape {shape!r} is not [N, C, H, W]; re-export the bundle")
    if num_classes is not None and golden["logits"].shape[1] != num_classes:
        raise BundleError(f"{where}: logits have {golden['logits'].shape[1]} columns, the manifest lists "
                          f"{num_classes} classes; re-export the bundle")
