"""One export request, typed and validated once where it is built, and the data it runs on.

:class:`ExportRequest` holds what the caller decides (formats, INT8 options, opset, TensorRT batch,
gate thresholds, signing key, the bundle's identity); :class:`ExportData` holds the images (test
sets, golden set, calibration, DeepStream views). :func:`.bundle.export_bundle` takes one of each,
so the orchestrator and the format builders read typed fields instead of loose keywords.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
from edgecl_runtime.bundle.gate import merge_thresholds
from edgecl_runtime.inputs.preprocess import check_spec, spec_chw

from .onnx.export import DEFAULT_EXPORTER
from .onnx.metadata import BundleIdentity
from .parity.sources import BatchSource, check_batch
from .quantize.calibration import Int8Options

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

Pair = tuple[np.ndarray, np.ndarray]
Golden = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ExportRequest:
    """What to export. ``formats``: request words of the exporters' format table
    (:data:`.formats.REQUESTS`; FP32 is always exported); ``int8``: the INT8 file's options;
    ``thresholds``: overrides of ``edgecl_runtime.bundle.gate.DEFAULT_THRESHOLDS`` (merged into
    ``threshold_table``); ``sign_key``: an Ed25519 private key (``edgecl_runtime.bundle.signing``) that signs
    the manifest inside the staging folder, so the bundle is never published unsigned."""

    classes: Sequence[str]
    input_spec: Mapping[str, Any]
    formats: frozenset[str] = frozenset()
    int8: Int8Options = Int8Options()
    opset: int = 17
    max_batch: int = 32
    thresholds: Mapping[str, Mapping[str, float]] | None = None
    run_name: str = ""
    task: int = 0
    exporter: str = DEFAULT_EXPORTER
    sign_key: "Ed25519PrivateKey | None" = None
    threshold_table: dict[str, dict[str, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from .formats import REQUESTS  # the table; imported here because it imports the builders

        fmts = frozenset(self.formats or ())
        unknown = sorted(fmts - set(REQUESTS))
        if unknown:
            raise ValueError(f"unknown export format(s) {', '.join(unknown)}: choose from {', '.join(REQUESTS)}"
                             " (fp32 is always exported)")
        object.__setattr__(self, "formats", fmts)
        if not isinstance(self.classes, str):
            object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        check_spec(dict(self.input_spec))
        object.__setattr__(self, "threshold_table", merge_thresholds(self.thresholds))
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")

    @property
    def chw(self) -> tuple[int, int, int]:
        return spec_chw(dict(self.input_spec))

    @property
    def identity(self) -> BundleIdentity:
        return BundleIdentity(tuple(self.classes), int(self.task), self.input_spec, self.run_name)

    def wants(self, request: str | None) -> bool:
        """Whether the request word ``request`` was asked for (None: a format always exported)."""
        return request is None or request in self.formats


@dataclass(frozen=True)
class ExportData:
    """The images: ``test_sets`` one per seen task, (inputs, labels) arrays or a :class:`BatchSource`
    (streamed: the reference, every gate and the golden selection read it batch by batch);
    ``golden`` = (inputs float32 NCHW in [0, 1], labels, task_ids 1-based) or None to select it from
    the test sets; ``calib`` the INT8 calibration inputs (array or ``BatchSource``; needed for int8);
    ``deepstream_sets`` the test sets preprocessed as DeepStream's nvinfer does with the configs'
    bilinear ``scaling-filter`` (plain resize, no antialias), ``deepstream_nearest_sets`` the same
    with nvinfer's default nearest filter."""

    test_sets: Sequence[Pair | BatchSource]
    golden: Golden | None = None
    calib: np.ndarray | BatchSource | None = None
    deepstream_sets: Sequence[Pair | BatchSource] | None = None
    deepstream_nearest_sets: Sequence[Pair | BatchSource] | None = None

    def check(self, request: ExportRequest, int8: bool) -> tuple[int, int, int]:
        """One-line ValueError unless every array is float32-convertible NCHW of the request's size
        in [0, 1] (``int8``: calibration images are required and checked); returns (C, H, W).

        A ``BatchSource`` announces its image shape (checked here) and has its batches checked as
        they stream (reference pass, calibration reader)."""
        if int8 and self.calib is None:
            raise ValueError("int8 export needs calibration images (calib): pass a stratified sample of training images")
        chw, golden = request.chw, self.golden
        if golden is not None and (not isinstance(golden, (tuple, list)) or len(golden) != 3):
            raise ValueError("golden must be (inputs, labels, task_ids)")
        if not self.test_sets:
            raise ValueError("test_sets must hold one (inputs, labels) pair or BatchSource per seen task")
        arrays = [("golden inputs", golden[0])] if golden is not None else []
        arrays += [(f"task {t} test inputs", s) for t, s in enumerate(self.test_sets, 1)]
        arrays += [("calibration inputs", self.calib)] if int8 else []
        for what, x in arrays:
            _check_one(what, x, chw)
        return chw


def _check_one(what: str, x: Any, chw: tuple[int, int, int]) -> None:
    if isinstance(x, BatchSource):
        if x.chw != chw or len(x) == 0:
            raise ValueError(f"{what} must be (N>=1, {chw[0]}, {chw[1]}, {chw[2]}) per the input spec,"
                             f" got ({len(x)}, {', '.join(map(str, x.chw))})")
        return
    if what.startswith("task"):
        x, y = x
        if np.shape(y) != (len(x),):
            check_batch(x, chw, what)  # shape errors first
            raise ValueError(f"{what.split(' test')[0]} labels must be ({len(x)},), got {np.shape(y)}")
    check_batch(x, chw, what)


def checked_stream(source: BatchSource, what: str) -> BatchSource:
    """``source`` with every batch checked (shape, [0, 1]) as it streams."""
    def read(rows: np.ndarray):
        for x, y in source.batches(rows):
            check_batch(x, source.chw, what)
            yield x, y
    return BatchSource(source.labels, source.chw, read)


__all__ = ["ExportRequest", "ExportData", "checked_stream"]
