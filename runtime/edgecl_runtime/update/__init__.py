"""Over-the-air updates: the update folder's format, the weight reconstruction, and applying one.

Owns turning a base bundle plus an update into the target bundle (rebuilt ONNX files, golden set),
proved by the gate before it is moved into place.
"""
from __future__ import annotations

from .apply import apply_update
from .format import (BUNDLE_FOLDER, GOLDEN_UPDATE, ONNX_FOLDER, UPDATE_KIND, UPDATE_NAME,
                     UPDATE_SIGNATURE, UPDATE_VERSION, branch_name, update_dirname)
from .golden_pack import compose_golden, new_images_uint8, npz_bytes
from .math import FACTOR_KEYS, apply_factors, factor_key, reconstruct_qkv
from .onnx_fill import fill_onnx, initializers, qkv_raw, to_float16

__all__ = ["apply_update", "BUNDLE_FOLDER", "GOLDEN_UPDATE", "ONNX_FOLDER", "UPDATE_KIND",
           "UPDATE_NAME", "UPDATE_SIGNATURE", "UPDATE_VERSION", "branch_name", "update_dirname",
           "compose_golden", "new_images_uint8", "npz_bytes", "FACTOR_KEYS", "apply_factors",
           "factor_key", "reconstruct_qkv", "fill_onnx", "initializers", "qkv_raw", "to_float16"]
