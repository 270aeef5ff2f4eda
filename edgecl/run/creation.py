"""Creating a run: resolve the config, split the classes into tasks, freeze everything in run.json.

Colour follows the model (:func:`input_color`): the run's input spec, and so every bundle's
manifest, says "L" for a 1-channel model and "RGB" for a 3-channel one; a model/data pair that
cannot work is refused here, before run.json exists; so is every other option that could fail
later (:func:`edgecl.run.preflight.check_new_run`), so a corrected retry never meets a frozen mistake.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import timm
import torch
from edgecl_runtime.inputs.preprocess import input_spec

from edgecl.config import RunConfig
from edgecl.data.imageset import Source
from edgecl.data.sources import load_source
from edgecl.data.stream import split_classes
from edgecl.errors import OptionError, UsageError
from edgecl.run.preflight import check_new_run
from edgecl.run.signing import key_path
from edgecl.run.store import RunStore
from edgecl.run.view import input_view
from edgecl.vit import backbone


def input_size(model: str, model_kwargs: dict[str, Any]) -> int:
    if "img_size" in model_kwargs:
        return int(model_kwargs["img_size"])
    cfg = timm.models.get_pretrained_cfg(model)
    size = (cfg.input_size if cfg is not None else (3, 224, 224))[-1]
    return int(size)


def input_color(source: Source, weights: str, model_kwargs: dict[str, Any]) -> str:
    """The colour the run reads its images in: the model's.

    - the bundled backbone (1-channel) and a weights file fix the channel count; so does
      ``in_chans`` in ``model_kwargs``. With ``--weights none`` / ``hub`` and no ``in_chans`` the
      model follows the data: the source's own colour (``imagefolder``: RGB).
    - ``imagefolder`` files are converted to the model's colour (grey photos for a 3-channel model
      become RGB, colour photos for a 1-channel model become L).
    - a grey source (``default``, ``mnist``, ``fashion-mnist``) for a 3-channel model is read as
      RGB (the grey value in every channel: nothing is lost).
    - an RGB source (``cifar100``) is never turned grey behind the user's back: a 1-channel model
      is refused with the option to change.
    """
    channels = backbone.fixed_channels(weights, model_kwargs)
    if channels is None:
        return source.color
    color = backbone.COLORS[channels]
    if color == source.color or source.color_follows_model or color == "RGB":
        return color
    if weights in ("none", "hub"):
        model, hint = "model_kwargs in_chans=1", "drop in_chans from model_kwargs (or set it to 3)"
    else:
        model, hint = backbone.describe(weights), "pass --weights none --model NAME, or a 3-channel weights file"
    raise UsageError(f"{model} reads 1-channel (grey) images but {source.name} is RGB: {hint}")


def _backbone_name(weights: str, model: str) -> str:
    """How the run's backbone is named to the user: the bundled one, or the model and its weights."""
    return f"the bundled backbone ({model})" if weights == "bundled" else f"{model} ({backbone.describe(weights)})"


def create_run(store: RunStore, config: RunConfig) -> dict[str, Any]:
    """Write run.json for a new run from its checked ``config`` and return its contents.

    What only the data and the model can tell is checked here, before run.json exists: the
    classes split into ``tasks`` equal tasks, the model's colour, ``--resize`` against the model's
    input, and :func:`check_new_run`; a refusal names the option (OptionError, exit 2). run.json
    also keeps what the model will see of the data (``view``: :mod:`edgecl.run.view`).
    """
    if config.data_root is not None:
        config = replace(config, data_root=str(Path(config.data_root).expanduser().resolve()))
    source = load_source(config.dataset, config.data_root)
    if source.n_classes % config.tasks:
        raise OptionError(f"{source.n_classes} classes cannot be split into {config.tasks} equal tasks: "
                          "choose --tasks dividing it")
    color = input_color(source, config.weights, config.model_kwargs)
    channels = 1 if color == "L" else 3
    choice = backbone.choose(config.weights, config.model, dict(config.model_kwargs), channels, config.mean, config.std)
    config = replace(config, model=choice.model, model_kwargs=choice.model_kwargs, mean=choice.mean, std=choice.std,
                     weights=choice.weights)
    size = input_size(config.model, config.model_kwargs)
    if config.resize is not None and config.resize < size:
        raise OptionError(f"--resize {config.resize} is smaller than the model's {size}-px input: "
                          f"give at least {size} (or leave it out to squash images to {size} px)")
    spec = input_spec(color, size, config.resize)
    view = input_view(source, _backbone_name(choice.weights, config.model), spec)
    tasks = split_classes(source.n_classes, config.tasks, config.seed if config.shuffle_classes else None)
    if config.sign_key is not None:
        config = replace(config, sign_key=key_path(config.sign_key))
    check_new_run(config)  # rank, blocks, model, signing key: before run.json exists
    meta = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "class_names": source.class_names,
        "class_order": [c for group in tasks for c in group],
        "task_classes": tasks,
        "input": spec,
        "weights_sha256": choice.sha256,
        "view": view.to_dict(),
        "versions": {"torch": torch.__version__, "timm": timm.__version__},
    }
    return store.create(config, meta)
