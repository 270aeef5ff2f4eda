"""Inputs: image files (safe opening, folder expansion, the pixel limit) and the one eval preprocessing.

Owns what turns a path or a PIL image into the model's (C, H, W) float32 array; the trainer's eval
transform uses the same ``preprocess`` so device and trainer agree bit for bit.
"""
from __future__ import annotations

from .images import DEFAULT_MAX_PIXELS, Item, expand_inputs, open_image
from .preprocess import (COLORS, check_spec, geometry, input_spec, preprocess_array, spec_chw,
                         to_color)

# ``preprocess`` (the function) is not re-exported: it would shadow the module of that name
# (``edgecl_runtime.inputs.preprocess``); import it from there.
__all__ = ["DEFAULT_MAX_PIXELS", "Item", "expand_inputs", "open_image", "COLORS", "check_spec",
           "geometry", "input_spec", "preprocess_array", "spec_chw", "to_color"]
