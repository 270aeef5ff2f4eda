"""One bundle's export in progress, as every format builder sees it: the staging folder, the
request, the PyTorch reference and the (checked) calibration images.

Why a record: the builders in :mod:`.formats` get everything from one typed value instead of a
closure over the orchestrator's locals, so a format's build and gate never call back into
:mod:`.bundle`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from edgecl_runtime.contract import ONNX_FILES, Format

from .parity.gate import ParityGate, Reference
from .parity.sources import BatchSource
from .request import ExportRequest


@dataclass(frozen=True)
class Job:
    """``calib``: the INT8 calibration images (a checked stream or an array), None unless INT8 is
    requested (then the CPU INT8 fallback ranks layers on them too)."""

    stage: Path
    request: ExportRequest
    ref: Reference
    calib: np.ndarray | BatchSource | None

    @property
    def fp32(self) -> Path:
        """The FP32 ONNX every other format is made from."""
        return self.stage / ONNX_FILES["fp32"]

    def path(self, fmt: Format) -> Path:
        return self.stage / fmt.file

    def gate(self, fmt: Format) -> ParityGate:
        """The gate of ``fmt`` (thresholds by its name: ``trt_fp16`` is judged as fp16)."""
        return ParityGate(fmt.name, self.ref, self.request.threshold_table)

    def requested(self, fmt: Format) -> bool:
        return fmt.request is not None and fmt.request in self.request.formats


__all__ = ["Job"]
