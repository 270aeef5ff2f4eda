"""ONNX Runtime backend: CPU everywhere, CUDA / TensorRT execution providers when present.

Provider choice is a pure function of what the installed onnxruntime offers, so the same code
runs on a laptop (CPU), an x86 GPU box (CUDA) and a Jetson (onnxruntime-gpu from JetPack).

Exactly one ONNX Runtime flavour may be installed: ``onnxruntime`` (the runtime's ``[ort]`` extra,
CPU) or NVIDIA's ``onnxruntime-gpu`` wheel.  Both install the same ``onnxruntime`` module, and
with both present the CUDA provider silently disappears (microsoft/onnxruntime#26996), so
``check_flavour`` refuses that, and a missing one, in one line before a session is made.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import RuntimeFailure

# "auto" never picks the TensorRT EP: it builds an engine inside every new session (minutes on
# a Jetson); the native `trt` backend with a prebuilt engine is the fast path for TensorRT.
DEVICES = {"auto": ("CUDAExecutionProvider", "CPUExecutionProvider"),
           "cpu": ("CPUExecutionProvider",),
           "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
           "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")}
_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
             "tensor(double)": np.float64}


FLAVOURS = ("onnxruntime", "onnxruntime-gpu")
INSTALL_ONE = ("pip install './runtime[ort]' (CPU), or on a Jetson only NVIDIA's onnxruntime-gpu wheel "
               "for its JetPack")


def installed_flavours() -> list:
    """The ONNX Runtime distributions installed here (by pip's metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in FLAVOURS:
        try:
            version(name)
        except PackageNotFoundError:
            continue
        found.append(name)
    return found


def check_flavour() -> None:
    """One-line RuntimeFailure unless exactly one ONNX Runtime flavour is installed."""
    found = installed_flavours()
    if len(found) > 1:
        raise RuntimeFailure("both onnxruntime and onnxruntime-gpu are installed: they share one module and the "
                             "CUDA provider silently disappears (onnxruntime#26996); run `pip uninstall -y "
                             f"onnxruntime onnxruntime-gpu`, then {INSTALL_ONE}")
    if not found:
        raise RuntimeFailure(f"ONNX Runtime is not installed: {INSTALL_ONE}")


def choose_providers(available: Sequence[str], device: str = "auto") -> list[str]:
    """Ordered providers for ``device`` (auto/cpu/cuda/tensorrt) among ``available``.

    CPU is always last as a fallback; asking for cuda/tensorrt where it is absent is an error
    rather than a silent CPU run (a benchmark would otherwise lie).
    """
    if device not in DEVICES:
        raise RuntimeFailure(f"unknown ORT device {device!r}; use one of: {', '.join(DEVICES)}")
    wanted = DEVICES[device]
    if device in ("cuda", "tensorrt"):
        head = "CUDAExecutionProvider" if device == "cuda" else "TensorrtExecutionProvider"
        if head not in available:
            raise RuntimeFailure(f"onnxruntime here has no {head} (has: {', '.join(available)}); "
                                 "install onnxruntime-gpu or use --device cpu")
    chosen = [p for p in wanted if p in available]
    return chosen or ["CPUExecutionProvider"]


def with_options(providers: Sequence[str], precision: str) -> list:
    """Providers with their options: an FP32 model on CUDA runs with TF32 off.

    TF32 matmuls (Ampere and later, Orin included) carry ~1e-3 relative error, which would break
    the FP32 gate's 1e-4 logit tolerance; the FP16/INT8 gates are looser and keep ORT's default.
    """
    out: list = []
    for name in providers:
        if name == "CUDAExecutionProvider" and precision == "fp32":
            out.append((name, {"use_tf32": "0"}))
        else:
            out.append(name)
    return out


class OrtBackend:
    """One InferenceSession over a bundle's ONNX model.

    ``model`` is the model's bytes (what a bundle hands over: the bytes that were hashed, so no
    second read by path can be raced) or, for callers outside a bundle, a path.
    """

    def __init__(self, model: "bytes | str | os.PathLike[str]", precision: str = "fp32",
                 device: str = "auto", threads: int = 0, name: str | None = None) -> None:
        check_flavour()
        import onnxruntime as ort

        self.path = Path(name or ("model.onnx" if isinstance(model, bytes) else model))
        self.precision = precision
        self.max_batch: int | None = None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        providers = choose_providers(ort.get_available_providers(), device)
        try:
            source = model if isinstance(model, bytes) else str(model)
            self.session = ort.InferenceSession(source, opts, providers=with_options(providers, precision))
        except Exception as exc:  # onnxruntime raises several unrelated types
            raise RuntimeFailure(f"onnxruntime cannot load {self.path}: "
                                 f"{str(exc).splitlines()[0]}") from exc
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self.input_name, self.output_name = inp.name, out.name
        self.input_dtype = _NP_TYPES.get(inp.type, np.float32)
        batch_dim = inp.shape[0] if inp.shape else None
        self.max_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N,K) float32 for a float32 (N,C,H,W) batch."""
        x = np.ascontiguousarray(batch, dtype=self.input_dtype)
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        return np.asarray(out, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        import onnxruntime as ort

        providers = self.session.get_providers()
        return {"backend": "ort", "precision": self.precision, "model": self.path.name,
                "providers": providers, "device": _device_name(providers),
                "versions": {"onnxruntime": ort.__version__, "numpy": np.__version__,
                             "python": platform.python_version()}}

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]


def _device_name(providers: Sequence[str]) -> str:
    if providers and providers[0] != "CPUExecutionProvider":
        return providers[0].replace("ExecutionProvider", "")
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
