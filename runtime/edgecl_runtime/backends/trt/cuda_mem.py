"""Thin, torch-free CUDA helpers over cuda-python: device identity, streams, device buffers.

cuda-python moved its runtime bindings from ``cuda.cudart`` to ``cuda.bindings.runtime``
(12.6+); both are tried (the JetPack 5 and 6.0 pins, 11.8.x and 12.2.x, only have ``cuda.cudart``).  Every call returns ``(err, *values)``; ``_ok`` turns a non-success
code into one readable EngineError.

Why cuda-python (pinned per JetPack) and not Polygraphy's ctypes wrapper: these ~100 lines are
all the CUDA the runtime needs, and the pins (``edgecl-runtime[jetpack5]`` / ``[jetpack6]``, see
the runtime README) are one line each.  What breaks is an unpinned install: cuda-python 13 on a
JetPack 6 driver (CUDA 12) fails its first call with ``cudaErrorInsufficientDriver``, which is
turned into the install line to run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ...errors import EngineError

INSTALL_HINT = "install the optional extra: pip install 'edgecl-runtime[trt]' (cuda-python)"


def cudart() -> Any:
    """The cuda-python runtime module, or EngineError saying how to get it."""
    try:
        from cuda.bindings import runtime  # cuda-python >= 12.6
        return runtime
    except ImportError:
        pass
    try:
        from cuda import cudart as runtime  # older cuda-python
        return runtime
    except ImportError:
        raise EngineError(f"cuda-python is not importable; {INSTALL_HINT}") from None


INSUFFICIENT_DRIVER = 35  # cudaErrorInsufficientDriver: the bindings target a newer CUDA
PINS = ("pip install 'cuda-python>=12.6,<12.7' on JetPack 6.1/6.2, 'cuda-python>=12.2,<12.3' "
        "on JetPack 6.0, 'cuda-python>=11.8,<11.8.3' on JetPack 5.1 (extras jetpack61/jetpack60/jetpack5)")


def _installed_cuda_python() -> str:
    """The installed cuda-python version ("unknown" when its metadata is missing)."""
    try:
        from importlib.metadata import version
        return version("cuda-python")
    except Exception:  # PackageNotFoundError, or a vendored copy without metadata
        return "unknown"


def _ok(result: Any, what: str) -> Any:
    """Unpack a cuda-python ``(err, value...)`` tuple, raising on a non-zero error code."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) == INSUFFICIENT_DRIVER:
        raise EngineError(f"CUDA {what} failed: cuda-python {_installed_cuda_python()} needs a newer "
                          f"driver than this device's; install the one matching its CUDA: {PINS}")
    if int(err) != 0:
        raise EngineError(f"CUDA {what} failed: {getattr(err, 'name', err)}")
    return values[0] if len(values) == 1 else tuple(values)


MODULE_FILE = Path("/proc/device-tree/model")  # Jetson: "NVIDIA Jetson AGX Orin Developer Kit"


class DeviceIdentity(NamedTuple):
    """What a plan is tied to: GPU name, SM "major.minor", memory (GiB, rounded), module name.

    Every Orin module (AGX, NX, Nano) reports GPU "Orin" and SM 8.7; memory and the device-tree
    model name tell them apart.  0 / "" where unknown (a discrete GPU has no device-tree model).
    """

    gpu: str
    cc: str
    memory_gib: int = 0
    module: str = ""


def module_name(path: Path = MODULE_FILE) -> str:
    """The board's device-tree model name ("" off Jetson or when unreadable)."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return ""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def device_identity(device: int = 0) -> DeviceIdentity:
    """The identity of CUDA device ``device`` (see DeviceIdentity)."""
    rt = cudart()
    prop = _ok(rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = prop.name
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).split(b"\0", 1)[0].decode("utf-8", "replace")
    memory = int(round(int(getattr(prop, "totalGlobalMem", 0) or 0) / float(1 << 30)))
    return DeviceIdentity(str(name).strip(), f"{prop.major}.{prop.minor}", memory, module_name(MODULE_FILE))


class Stream:
    """A CUDA stream; ``address`` (an int) is what ``execute_async_v3`` takes."""

    def __init__(self) -> None:
        self.rt = cudart()
        self.handle = _ok(self.rt.cudaStreamCreate(), "cudaStreamCreate")

    @property
    def address(self) -> int:
        return int(self.handle)

    def sync(self) -> None:
        _ok(self.rt.cudaStreamSynchronize(self.handle), "cudaStreamSynchronize")

    def close(self) -> None:
        if self.handle is not None:
            self.rt.cudaStreamDestroy(self.handle)
            self.handle = None


class DeviceBuffer:
    """``nbytes`` of device memory with async host<->device copies on a stream."""

    def __init__(self, nbytes: int) -> None:
        self.rt = cudart()
        self.nbytes = int(nbytes)
        self.ptr = _ok(self.rt.cudaMalloc(self.nbytes), "cudaMalloc")

    @property
    def address(self) -> int:
        return int(self.ptr)

    def upload(self, host: np.ndarray, stream: Stream) -> None:
        assert host.flags.c_contiguous and host.nbytes <= self.nbytes
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        _ok(self.rt.cudaMemcpyAsync(self.ptr, host.ctypes.data, host.nbytes, kind, stream.handle),
            "cudaMemcpyAsync (host to device)")

    def download(self, host: np.ndarray, stream: Stream) -> None:
        assert host.flags.c_contiguous and host.nbytes <= self.nbytes
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _ok(self.rt.cudaMemcpyAsync(host.ctypes.data, self.ptr, host.nbytes, kind, stream.handle),
            "cudaMemcpyAsync (device to host)")

    def free(self) -> None:
        if self.ptr is not None:
            self.rt.cudaFree(self.ptr)
            self.ptr = None
