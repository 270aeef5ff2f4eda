"""Where a run's starting backbone comes from: the bundled file, a local file, timm's hub, or none.

``bundled`` is the small ViT shipped in ``edgecl/assets`` (made by ``edgecl pretrain``; its JSON
sidecar names the architecture and input normalisation). ``hub`` is timm's own pretrained loading
(needs internet). A path is any local safetensors or timm checkpoint.

Channels: the bundled backbone and a weights file have a fixed input channel count (the bundled
sidecar's ``in_chans``, a file's ``patch_embed.proj.weight``); ``none`` and ``hub`` build whatever
``in_chans`` the run asks for. :func:`fixed_channels` says which, and refuses counts that cannot
work (an ``in_chans`` that contradicts the weights, or anything but 1 / 3 channels).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from edgecl_runtime.atomic_io import sha256_file

from edgecl.errors import DataError, DataMissing, UsageError
from edgecl.vit.model import create_vit, load_backbone_weights, read_weights

ASSETS = Path(__file__).parents[1] / "assets"
BUNDLED = ASSETS / "backbone.safetensors"
PATCH_KEY = "patch_embed.proj.weight"
COLORS = {1: "L", 3: "RGB"}


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


def describe(weights: str) -> str:
    """How messages name a weights choice."""
    return {"bundled": "the bundled backbone", "none": "--weights none", "hub": "--weights hub"}.get(
        weights, f"weights file {Path(weights).name}")


def _weights_file(weights: str) -> Path:
    path = Path(weights).expanduser().resolve()
    if not path.is_file():
        raise DataMissing(f"weights file not found: {path} (give a local .safetensors or .pth file)")
    return path


def file_channels(path: Path) -> int | None:
    """Input channels of a weights file (its patch embedding), None if it has no ViT patch embedding."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            names = set(f.keys())
            if PATCH_KEY not in names:
                return None
            shape = list(f.get_slice(PATCH_KEY).get_shape())
    else:
        tensor = read_weights(path).get(PATCH_KEY)
        if tensor is None:
            return None
        shape = list(tensor.shape)
    return int(shape[1]) if len(shape) == 4 else None


def fixed_channels(weights: str, model_kwargs: dict[str, Any]) -> int | None:
    """The input channel count the model must have, or None when it may follow the data.

    The bundled backbone and a weights file fix it; ``none`` / ``hub`` only when ``model_kwargs``
    names ``in_chans``. Raises ``UsageError`` (one line, what to change) for an ``in_chans`` that
    contradicts the weights, or a count other than 1 (grey) or 3 (RGB).
    """
    if weights == "bundled":
        fixed: int | None = int(bundled_info()["model_kwargs"].get("in_chans", 3))
    elif weights in ("none", "hub"):
        fixed = None
    else:
        fixed = file_channels(_weights_file(weights))
    if fixed is not None and fixed not in COLORS:
        raise UsageError(f"{describe(weights)} reads {fixed}-channel images; edgecl feeds 1 (grey) or 3 (RGB) "
                         "channels: choose other weights")
    asked = model_kwargs.get("in_chans")
    if asked is None:
        return fixed
    if isinstance(asked, bool) or asked not in COLORS:
        raise UsageError(f"model_kwargs in_chans={asked!r} is not supported: use 1 (grey images) or 3 (RGB)")
    if fixed is not None and int(asked) != fixed:
        raise UsageError(f"model_kwargs in_chans={asked} contradicts {describe(weights)} ({fixed}-channel): "
                         "drop in_chans from model_kwargs or use --weights none")
    return int(asked)


def _check_norm(name: str, values: list[float] | None, channels: int) -> None:
    if values is not None and len(values) not in (1, channels):
        raise UsageError(f"{name} has {len(values)} values but the model reads {channels}-channel images: "
                         + ("give 1 value" if channels == 1 else f"give 1 or {channels} values"))


def choose(weights: str, model: str | None, model_kwargs: dict[str, Any], channels: int,
           mean: list[float] | None, std: list[float] | None) -> BackboneChoice:
    """Resolve the architecture and normalisation for a new run whose model reads ``channels``."""
    _check_norm("mean", mean, channels)
    _check_norm("std", std, channels)
    if weights == "bundled":
        info = bundled_info()
        if int(info["model_kwargs"].get("in_chans", 3)) != channels:
            raise UsageError(f"the bundled backbone reads {info['model_kwargs'].get('in_chans', 3)}-channel images, "
                             f"not {channels}: pass --weights none --model NAME")
        if model is not None and model != info["model_name"]:
            raise DataError(f"--model {model} does not match the bundled backbone ({info['model_name']}): "
                             "pass --weights none or a file for another model")
        kwargs = {**info["model_kwargs"], **model_kwargs}
        return BackboneChoice(info["model_name"], kwargs, mean or info["mean"], std or info["std"],
                              "bundled", sha256_file(BUNDLED))
    if model is None:
        raise DataError("--model is required with --weights other than 'bundled' (e.g. vit_base_patch16_224)")
    kwargs = {**model_kwargs, "in_chans": channels}
    if weights in ("none", "hub"):
        default_mean = [0.5] * channels
        return BackboneChoice(model, kwargs, mean or default_mean, std or [0.5] * channels, weights, None)
    path = _weights_file(weights)
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
