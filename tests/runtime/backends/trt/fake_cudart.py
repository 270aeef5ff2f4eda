"""A fake ``cuda.bindings.runtime`` that behaves like cuda-python where the runtime can get it wrong.

Every call returns an ``(err, value...)`` tuple with an IntEnum error, as cuda-python does.
Device memory is a set of live allocations; a copy or kernel naming an address that is not
inside one (freed, never allocated, too small) fails with cudaErrorInvalidValue.  Work on a
stream is queued and only happens at ``cudaStreamSynchronize``: reading results before the sync,
or letting a host buffer die before it, gives wrong numbers, as on a real GPU.
"""
from __future__ import annotations

import ctypes
import enum
import sys
import types
from typing import Callable, Dict, List


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInsufficientDriver = 35
    cudaErrorInvalidResourceHandle = 400


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3
    cudaMemcpyDefault = 4


class cudaStream_t:
    """Opaque handle; ``int()`` gives the address TensorRT's ``execute_async_v3`` takes."""

    def __init__(self, value: int) -> None:
        self._value = value

    def __int__(self) -> int:
        return self._value


class cudaDeviceProp:
    def __init__(self, name: str, cc: tuple, memory: int) -> None:
        self.name = name.encode() + b"\0" * (256 - len(name))  # a fixed char[256], as cuda-python gives
        self.major, self.minor = cc
        self.totalGlobalMem = memory  # bytes; on a Jetson the shared system memory the GPU may use


OK = cudaError_t.cudaSuccess
BAD = cudaError_t.cudaErrorInvalidValue


class FakeCudaRuntime(types.ModuleType):
    """The module object; ``failing`` maps a function name to the error it returns."""

    cudaError_t = cudaError_t
    cudaMemcpyKind = cudaMemcpyKind

    def __init__(self, gpu: str = "Orin", cc: tuple = (8, 7), memory: int = 0) -> None:
        super().__init__("cuda.bindings.runtime")
        self.gpu, self.cc, self.memory_bytes = gpu, cc, memory
        self.memory: Dict[int, bytearray] = {}
        self.streams: Dict[int, List[Callable[[], None]]] = {}
        self.failing: Dict[str, cudaError_t] = {}
        self.calls: List[str] = []
        self._next = 0x7F00_0000_0000

    def _fail(self, name: str):
        self.calls.append(name)
        return self.failing.get(name)

    def cudaGetDeviceProperties(self, device: int):
        err = self._fail("cudaGetDeviceProperties")
        return (err, None) if err else (OK, cudaDeviceProp(self.gpu, self.cc, self.memory_bytes))

    def cudaMalloc(self, nbytes: int):
        if self._fail("cudaMalloc"):
            return self.failing["cudaMalloc"], 0
        ptr, self._next = self._next, self._next + ((int(nbytes) + 255) // 256 + 1) * 256
        self.memory[ptr] = bytearray(int(nbytes))
        return OK, ptr

    def cudaFree(self, ptr):
        self.calls.append("cudaFree")
        return (OK,) if self.memory.pop(int(ptr), None) is not None else (BAD,)

    def cudaStreamCreate(self):
        self._fail("cudaStreamCreate")
        handle = 0x5000 + len(self.streams) + 1
        self.streams[handle] = []
        return OK, cudaStream_t(handle)

    def cudaStreamDestroy(self, stream):
        self.calls.append("cudaStreamDestroy")
        return (OK,) if self.streams.pop(int(stream), None) is not None else (cudaError_t.cudaErrorInvalidResourceHandle,)

    def device_view(self, ptr: int, nbytes: int) -> memoryview:
        """The bytes at device address ``ptr`` (inside one live allocation), else ValueError."""
        for base, mem in self.memory.items():
            if base <= ptr and ptr + nbytes <= base + len(mem):
                return memoryview(mem)[ptr - base:ptr - base + nbytes]
        raise ValueError(f"address {ptr:#x} (+{nbytes}) is not live device memory")

    def enqueue(self, stream: int, work: Callable[[], None]) -> bool:
        """Queue ``work`` on a live stream (what TensorRT's execute does); False for a bad one."""
        if int(stream) not in self.streams:
            return False
        self.streams[int(stream)].append(work)
        return True

    def cudaMemcpyAsync(self, dst, src, count, kind, stream):
        if self._fail("cudaMemcpyAsync") or int(stream) not in self.streams:
            return (self.failing.get("cudaMemcpyAsync", cudaError_t.cudaErrorInvalidResourceHandle),)
        dst, src, count = int(dst), int(src), int(count)
        try:
            if kind == cudaMemcpyKind.cudaMemcpyHostToDevice:
                view = self.device_view(dst, count)
                work = lambda: view.__setitem__(slice(None), ctypes.string_at(src, count))  # noqa: E731
            elif kind == cudaMemcpyKind.cudaMemcpyDeviceToHost:
                view = self.device_view(src, count)
                work = lambda: ctypes.memmove(dst, bytes(view), count)  # noqa: E731
            else:
                return (BAD,)
        except ValueError:
            return (BAD,)
        self.streams[int(stream)].append(work)
        return (OK,)

    def cudaStreamSynchronize(self, stream):
        self.calls.append("cudaStreamSynchronize")
        queue = self.streams.get(int(stream))
        if queue is None:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        while queue:
            queue.pop(0)()
        return (OK,)


def install(monkeypatch, runtime: FakeCudaRuntime, legacy: bool = False) -> FakeCudaRuntime:
    """Make ``from cuda.bindings import runtime`` return ``runtime`` (cuda-python >= 12.6 layout),
    or with ``legacy`` only ``from cuda import cudart``: the layout of the pins JetPack 5 (11.8.x)
    and 6.0 (12.2.x) use, where ``cuda.bindings`` does not exist (NVIDIA/cuda-python: the
    ``cuda.bindings`` package arrived in 12.6; before it the runtime module was ``cuda.cudart``)."""
    cuda = types.ModuleType("cuda")
    if legacy:
        cuda.cudart = runtime
        monkeypatch.setitem(sys.modules, "cuda", cuda)
        monkeypatch.setitem(sys.modules, "cuda.cudart", runtime)
        monkeypatch.delitem(sys.modules, "cuda.bindings", raising=False)
        monkeypatch.delitem(sys.modules, "cuda.bindings.runtime", raising=False)
        return runtime
    bindings = types.ModuleType("cuda.bindings")
    cuda.bindings, bindings.runtime = bindings, runtime
    for name, mod in (("cuda", cuda), ("cuda.bindings", bindings), ("cuda.bindings.runtime", runtime)):
        monkeypatch.setitem(sys.modules, name, mod)
    return runtime
