"""The models a run has stored: after task t, a plain timm ViT with one head over every seen class."""
from __future__ import annotations

import torch

from edgecl.run.run import Run
from edgecl.run.tensors import load_tensors
from edgecl.vit.model import Normalized, create_vit


def stored_vit(run: Run, task: int) -> torch.nn.Module:
    """The plain timm ViT saved after ``task`` (checksum verified), head over every seen class."""
    config = run.config
    vit = create_vit(config.model, len(run.seen_class_names(task)), config.model_kwargs)
    vit.load_state_dict(load_tensors(run.store.verified_path(task, "weights.safetensors"), "weights"))
    return vit


def task_model(run: Run, task: int) -> torch.nn.Module:
    """The stored model after ``task`` with its normalisation, exactly as a device will run it."""
    return Normalized(stored_vit(run, task), run.config.mean, run.config.std).eval()
