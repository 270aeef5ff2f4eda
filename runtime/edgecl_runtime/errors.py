"""One exception type for every user-facing failure of the runtime.

The CLI prints ``str(err)`` as a single line and exits non-zero; messages therefore name the
offending thing and say what to do, and never contain a traceback or a newline.
"""
from __future__ import annotations


class RuntimeFailure(Exception):
    """A problem the user can fix (bad bundle, bad image, missing TensorRT...)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class BundleError(RuntimeFailure):
    """The bundle folder is missing, incomplete, altered or too new."""


class UnreadableBundle(BundleError):
    """This user may not read a bundle file: a matter of file modes, not a verdict on the bundle."""


class ImageError(RuntimeFailure):
    """One input image could not be opened or decoded."""


class EngineError(RuntimeFailure):
    """A TensorRT engine is missing, foreign (other TRT/GPU) or cannot be built."""
