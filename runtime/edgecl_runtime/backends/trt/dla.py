"""Building for a Deep Learning Accelerator (Jetson Orin/Xavier modules have one or two DLAs).

A DLA runs only FP16 and INT8 layers, so an fp32 DLA build is refused before any work.  Layers
the DLA cannot run (a ViT's attention, Softmax, LayerNorm) need ``--gpu-fallback``; without it
TensorRT fails the build, and the failure message says so.  The chosen core is recorded in the
plan's sidecar because deserialising a DLA plan needs ``runtime.DLA_core`` set to it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ...errors import EngineError


@dataclass(frozen=True)
class DlaSettings:
    """``core`` None = GPU engine; ``gpu_fallback`` lets unsupported layers run on the GPU."""

    core: Optional[int] = None
    gpu_fallback: bool = False

    def record(self) -> dict:
        """The sidecar's DLA fields."""
        return {"dla_core": self.core, "gpu_fallback": self.gpu_fallback}


def check_dla(precision: str, dla: DlaSettings) -> None:
    """One-line EngineError for DLA options that cannot work, before TensorRT is touched."""
    if dla.core is None:
        if dla.gpu_fallback:
            raise EngineError("--gpu-fallback only applies to a DLA build; add --dla-core N "
                              "or drop --gpu-fallback")
        return
    if dla.core < 0:
        raise EngineError(f"--dla-core {dla.core} is negative; DLA cores are numbered from 0")
    if precision == "fp32":
        raise EngineError("a DLA runs only FP16 or INT8 layers; add --fp16 or --int8 to "
                          "--dla-core, or drop --dla-core for a GPU engine")


def apply_dla(trt: Any, builder: Any, config: Any, dla: DlaSettings) -> None:
    """Point the builder config at DLA core ``dla.core`` (no-op for a GPU engine)."""
    if dla.core is None:
        return
    count = int(getattr(builder, "num_DLA_cores", 0) or 0)
    if dla.core >= count:
        have = f"DLA cores 0-{count - 1}" if count else "no DLA"
        raise EngineError(f"--dla-core {dla.core}: this device has {have}; "
                          + ("pick one of them" if count else "drop --dla-core"))
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = int(dla.core)
    if dla.gpu_fallback:
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def build_failure_hint(dla: DlaSettings) -> str:
    """What to try when TensorRT returns no plan."""
    if dla.core is not None and not dla.gpu_fallback:
        return "layers the DLA cannot run need --gpu-fallback"
    return "try a larger --workspace-mb or another precision"
