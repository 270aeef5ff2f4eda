"""TensorRT tensor types -> numpy dtypes, without ``trt.nptype``.

TensorRT 8.5.2's ``trt.nptype`` builds its table with ``np.bool``, which numpy 1.24 removed (and
numpy 1.24 is what pip gives Python 3.8 on JetPack 5): every call raises AttributeError, even for
float32.  The runtime keys its own table by the DataType member's name, which is stable across
8.5 - 11.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import EngineError

DTYPES = {
    "FLOAT": np.float32,
    "HALF": np.float16,
    "INT8": np.int8,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "BOOL": np.bool_,
}
FLOAT_NAMES = frozenset({"FLOAT", "HALF", "BF16"})


def _dtype_name(trt_dtype: Any) -> str:
    """``trt.DataType.HALF`` (or ``"DataType.HALF"``) -> ``"HALF"``."""
    return str(getattr(trt_dtype, "name", trt_dtype)).split(".")[-1].upper()


def numpy_dtype(trt_dtype: Any, tensor: str = "tensor") -> np.dtype:
    """numpy dtype of a TensorRT tensor type; one line when numpy has no equivalent."""
    name = _dtype_name(trt_dtype)
    if name not in DTYPES:
        raise EngineError(f"{tensor} has TensorRT type {name}, which edgecl-rt cannot exchange with "
                          "numpy; rebuild from the bundle's ONNX with `edgecl-rt build BUNDLE`")
    return np.dtype(DTYPES[name])


def is_float(trt_dtype: Any) -> bool:
    """True for float32/float16/bfloat16 tensors (the only ones a precision pin may touch)."""
    return _dtype_name(trt_dtype) in FLOAT_NAMES
