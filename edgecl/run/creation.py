"""Creating a run: resolve the config, split the classes into tasks, freeze everything in run.json."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import timm
import torch

from edgecl_runtime.preprocess import input_spec

from edgecl.vit import backbone
from edgecl.config import RunConfig
from edgecl.data.sources import load_source
from edgecl.data.stream import split_classes
from edgecl.run.store import RunStore


def input_size(model: str, model_kwargs: dict[str, Any]) -> int:
    if "img_size" in model_kwargs:
        return int(model_kwargs["img_size"])
    cfg = timm.models.get_pretrained_cfg(model)
    size = (cfg.input_size if cfg is not None else (3, 224, 224))[-1]
    return int(size)


def create_run(store: RunStore, config: RunConfig) -> dict[str, Any]:
    """Write run.json for a new run and return its contents."""
    if config.data_root is not None:
        config.data_root = str(Path(config.data_root).expanduser().resolve())
    source = load_source(config.dataset, config.data_root)
    if source.n_classes % config.tasks:
        raise ValueError(f"{source.n_classes} classes cannot be split into {config.tasks} equal tasks: choose --tasks dividing it")
    channels = 1 if source.color == "L" else 3
    choice = backbone.choose(config.weights, config.model, dict(config.model_kwargs), channels, config.mean, config.std)
    config.model, config.model_kwargs, config.mean, config.std, config.weights = (
        choice.model, choice.model_kwargs, choice.mean, choice.std, choice.weights)
    size = input_size(config.model, config.model_kwargs)
    spec = input_spec(source.color, size, config.resize)
    tasks = split_classes(source.n_classes, config.tasks, config.seed if config.shuffle_classes else None)
    config.validate()
    meta = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "class_names": source.class_names,
        "class_order": [c for group in tasks for c in group],
        "task_classes": tasks,
        "input": spec,
        "weights_sha256": choice.sha256,
        "versions": {"torch": torch.__version__, "timm": timm.__version__},
    }
    store.create(config, meta)
    return store.read_run()
