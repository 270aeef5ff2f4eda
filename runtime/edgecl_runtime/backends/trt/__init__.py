"""TensorRT: build a plan on the device (opset and DLA checks, FP32 pins), record it, and run it.

Owns everything that imports ``tensorrt`` or ``cuda-python`` (both lazily, so this package imports
without them): ``build`` writes the plan and its sidecar record, ``engine`` runs it.
"""
from __future__ import annotations

from .build import build_engine, check_trt_precision, make_plan, plan_path, remove_plan
from .compat import NO_TENSORRT, import_tensorrt, tensorrt_available, version_tuple
from .dla import DlaSettings, check_dla
from .engine import TrtBackend
from .plan_record import check_compatible, read_plan, read_record, sidecar_path, write_plan

__all__ = ["build_engine", "check_trt_precision", "make_plan", "plan_path", "remove_plan",
           "NO_TENSORRT", "import_tensorrt", "tensorrt_available", "version_tuple", "DlaSettings",
           "check_dla", "TrtBackend", "check_compatible", "read_plan", "read_record", "sidecar_path",
           "write_plan"]
