"""Building for a Deep Learning Accelerator (Jetson Orin/Xavier modules have one or two DLAs).

Rules, from TensorRT's "DLA Supported Layers and Restrictions" and DeepStream's model builder:

* A DLA runs only FP16 and INT8 layers: an fp32 DLA build is refused before any work.
* "DLA does not support dynamic dimensions, so the profile's min, max, and opt values must be
  equal" (DeepStream sets ``minBatchSize = maxBatchSize`` for a DLA).  With a dynamic profile every
  layer silently falls back to the GPU, so a DLA build uses a static profile at ``--max-batch``
  (``static_batch``) and the engine pads each batch to it.
* TensorRT 8.x's DLA does not run explicit (Q/DQ) quantization, and TensorRT 11.0-11.2 have no
  DLA: ``check_dla_version`` refuses those in one line, before the builder.
* GELU (Erf), LayerNorm and FP32-pinned layers stay on the GPU: they need ``--gpu-fallback``;
  without it TensorRT fails the build, and the failure message says so.  How many layers the DLA
  actually takes (``IBuilderConfig.can_run_on_DLA`` with the final profile) is logged and recorded.

The chosen core is recorded in the plan's sidecar because deserialising a DLA plan needs
``runtime.DLA_core`` set to it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

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


def check_dla_version(trt_version: Tuple[int, ...], precision: str, dla: DlaSettings) -> None:
    """One-line EngineError where this TensorRT cannot place the request on a DLA at all."""
    if dla.core is None:
        return
    if (11, 0) <= tuple(trt_version[:2]) < (11, 3):
        raise EngineError("TensorRT 11.0-11.2 do not support the DLA; drop --dla-core (GPU engine) or "
                          "use a TensorRT with DLA support (JetPack's)")
    if precision == "int8" and trt_version[0] < 10:
        raise EngineError("TensorRT 8.x's DLA does not run explicit (Q/DQ) quantization, which "
                          "model.int8.onnx is; use --fp16 with --dla-core, or --int8 without it")


def static_batch(dla: DlaSettings) -> bool:
    """True when the profile must be static (min = opt = max): a DLA has no dynamic dimensions."""
    return dla.core is not None


def count_dla_layers(config: Any, network: Any) -> Tuple[int, int]:
    """(layers the DLA takes, all layers) under ``config``'s final profile; (0, n) for a GPU build."""
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    check = getattr(config, "can_run_on_DLA", None)
    if check is None:
        return 0, len(layers)
    return sum(1 for layer in layers if check(layer)), len(layers)


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
        return "layers the DLA cannot run (GELU, LayerNorm, FP32-pinned) need --gpu-fallback"
    return "try a larger --workspace-mb or another precision"
