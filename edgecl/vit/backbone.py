"""Where a run's starting backbone comes from: the bundled file, a local file, timm's hub, or none.

``bundled`` is the small ViT shipped in ``edgecl/assets`` (made by ``edgecl pretrain``; its JSON
sidecar names the architecture and input normalisation). ``hub`` is timm's own pretrained loading
(needs internet). A path is any local safetensors or timm checkpoint.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from edgecl_runtime.atomic_io import sha256_file

from edgecl.errors import DataError, DataMissing
from edgecl.vit.model import create_vit, load_backbone_weights, read_weights

ASSETS = Path(__file__).parents[1] / "assets"
BUNDLED = ASSETS / "backbone.safetensors"


@dataclass
class BackboneChoice:
    model: str
    model_kwargs: dict[str, Any]
    mean: list[float]
    std: list[float]
    weights: str  # "bundled" | "none" | "hub" | absolute path
    sha256: str | None


def bundled_info() -> dict[str, Any]:
    sidecar = BUNDLED.with_suffix(".json")
    if not BUNDLED.is_file() or not sidecar.is_file():
        raise DataMissing(f"the bundled backbone is missing from {ASSETS}: reinstall edgecl or pass --weights")
    return json.loads(sidecar.read_text())


def choose(weights: str, model: str | None, model_kwargs: dict[str, Any], channels: int,
           mean: list[float] | None, std: list[float] | None) -> BackboneChoice:
    """Resolve the architecture and normalisation for a new run."""
    if weights == "bundled":
        info = bundled_info()
        if model is not None and model != info["model_name"]:
            raise DataError(f"--model {model} does not match the bundled backbone ({info['model_name']}): "
                             "pass --weights none or a file for another model")
        kwargs = {**info["model_kwargs"], **model_kwargs}
        return BackboneChoice(info["model_name"], kwargs, mean or info["mean"], std or info["std"],
                              "bundled", sha256_file(BUNDLED))
    if model is None:
        raise DataError("--model is required with --weights other than 'bundled' (e.g. vit_base_patch16_224)")
    kwargs = {"in_chans": channels, **model_kwargs}
    if weights in ("none", "hub"):
        default_mean = [0.5] * channels
        return BackboneChoice(model, kwargs, mean or default_mean, std or [0.5] * channels, weights, None)
    path = Path(weights).expanduser().resolve()
    if not path.is_file():
        raise DataMissing(f"weights file not found: {path} (give a local .safetensors or .pth file)")
    return BackboneChoice(model, kwargs, mean or [0.5] * channels, std or [0.5] * channels, str(path), sha256_file(path))


def build(choice_weights: str, model: str, model_kwargs: dict[str, Any], expected_sha: str | None) -> torch.nn.Module:
    """A headless ViT with the run's starting weights (checked against the frozen checksum)."""
    if choice_weights == "hub":
        import timm

        try:
            return timm.create_model(model, pretrained=True, num_classes=0, **model_kwargs)
        except Exception as exc:  # no network, unknown tag...
            raise RuntimeError(f"could not download {model} weights ({type(exc).__name__}); "
                               "download them elsewhere and pass --weights FILE") from None
    vit = create_vit(model, 0, model_kwargs)
    if choice_weights == "none":
        return vit
    path = BUNDLED if choice_weights == "bundled" else Path(choice_weights)
    if expected_sha is not None and sha256_file(path) != expected_sha:
        raise DataError(f"backbone file {path} changed since the run was created (checksum mismatch): "
                         "restore it or start a new run")
    load_backbone_weights(vit, read_weights(path))
    return vit
