"""Checks made before a learn call writes or deletes anything.

Two moments can lose work: creating a run (run.json is frozen, so a run saved with an option that
later fails makes the corrected retry a "conflict") and ``--force`` (tasks t.. are discarded, so a
relearn that then fails on a damaged earlier task has destroyed work for nothing). Everything those
steps depend on is checked here first; each failure is a one-line :class:`edgecl.errors.EdgeclError`.
"""
from __future__ import annotations

from pathlib import Path

import torch
from edgecl_runtime.atomic_io import sha256_file
from edgecl_runtime.inputs.preprocess import check_spec

from edgecl.config import RunConfig
from edgecl.errors import OptionError, StoreError
from edgecl.run.run import Run
from edgecl.run.signing import check_sign_key
from edgecl.vit import backbone
from edgecl.vit.model import create_vit, final_norm


def check_new_run(config: RunConfig) -> None:
    """What a new run's options need of its model, checked on the model's shape (meta tensors: no
    memory, no weights read): a ViT, ``blocks <= depth``, ``rank <= d`` (the branch D_t is r x d with
    rows orthogonal to the old space, so r cannot exceed d), a final LayerNorm for
    ``fresh_final_norm``, and a loadable signing key. The values themselves (positive, known names)
    were checked when they entered (:mod:`edgecl.learning.request`); a misfit is an OptionError."""
    try:
        with torch.device("meta"):
            vit = create_vit(config.model, 0, config.model_kwargs)
    except Exception as exc:  # unknown name, not a ViT, bad model_kwargs
        raise OptionError(f"--model {config.model} cannot be used: {str(exc).strip().splitlines()[0]}") from None
    depth, width = len(vit.blocks), int(vit.num_features)
    if config.blocks is not None and config.blocks > depth:
        raise OptionError(f"--blocks must be in [1, {depth}] for {config.model} ({depth} blocks), got {config.blocks}")
    if config.rank > width:
        raise OptionError(f"--rank must be in [1, {width}] for {config.model} (width {width}), got {config.rank}")
    if config.fresh_final_norm:
        try:
            final_norm(vit)
        except ValueError as exc:
            raise OptionError(f"--fresh-final-norm cannot be used with {config.model}: {exc}; drop the option") from None
    if config.sign_key is not None:
        check_sign_key(config.sign_key)


def check_run_file(run: Run) -> None:
    """run.json still describes a run: the tasks split every class exactly once into ``tasks``
    groups, and the input spec is usable (an edited file is one line here, not a failure later)."""
    where = run.root / "run.json"
    ids = sorted(c for group in run.task_classes for c in group)
    if ids != list(range(len(run.class_names))) or len(run.task_classes) != run.config.tasks:
        raise StoreError(f"{where}: task_classes must split the {len(run.class_names)} classes into "
                         f"{run.config.tasks} tasks, each class once; restore run.json or start a new run")
    try:
        check_spec(dict(run.input))
    except ValueError as exc:
        raise StoreError(f"{where}: {exc}; restore run.json or start a new run") from None


def check_relearn(run: Run, task: int) -> None:
    """What relearning ``task`` reads, checked before tasks ``task``.. are discarded: no task folder
    is a symbolic link (it would be deleted through the link, or not at all), every file of every
    earlier task matches its record's sha256 (task t starts from task t-1, and the run metrics
    are recomputed from every earlier task's metrics), and for task 1 the backbone file."""
    for path in sorted(run.root.glob("task-[0-9][0-9]*")):
        if path.is_symlink():
            raise StoreError(f"{path} is a symbolic link: edgecl discards and rewrites task folders itself; "
                             "replace the link with the folder it points to (or remove it)")
    for earlier in range(1, task):
        for name in run.store.record(earlier)["files"]:
            run.store.verified_path(earlier, name)
    if task == 1:
        check_backbone(run)


def check_backbone(run: Run) -> None:
    """The starting weights of task 1 still match the checksum frozen in run.json."""
    weights = run.config.weights
    if weights in ("none", "hub") or run.weights_sha256 is None:
        return
    path = backbone.BUNDLED if weights == "bundled" else Path(weights)
    if not path.is_file():
        raise StoreError(f"backbone file {path} is missing: restore it or start a new run")
    if sha256_file(path) != run.weights_sha256:
        raise StoreError(f"backbone file {path} changed since the run was created (checksum mismatch): "
                         "restore it or start a new run")
