"""A run as one typed object, read from ``run.json`` once and passed down instead of a dict.

``run.json`` freezes what makes results comparable (the config, the class order, the split into
tasks, the input spec, the backbone's checksum); :class:`Run` is that file, parsed and checked,
plus the store it lives in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecl.config import RunConfig, task_seed
from edgecl.data.stream import seen_classes
from edgecl.errors import StoreError, UsageError
from edgecl.run.store import RunStore
from edgecl.run.view import InputView, stored_view

_KNOWN = ("config", "class_names", "task_classes", "input", "weights_sha256", "view")


@dataclass(frozen=True)
class Run:
    store: RunStore
    config: RunConfig
    class_names: list[str]
    task_classes: list[list[int]]  # class ids per task, in task order
    input: dict[str, Any]  # the input spec a device needs (edgecl_runtime.inputs.preprocess)
    weights_sha256: str | None
    meta: dict[str, Any]  # everything else run.json holds (created, versions, ...)
    keys: tuple[str, ...] = field(default=(), repr=False, compare=False)  # run.json's key order
    view: InputView | None = None  # what the model sees of the data (None: run created before it was kept)

    def to_dict(self) -> dict[str, Any]:
        """run.json's contents for this run, keys in the order the file holds them."""
        known = {"config": self.config.to_dict(), "class_names": list(self.class_names),
                 "task_classes": [list(g) for g in self.task_classes], "input": dict(self.input),
                 "weights_sha256": self.weights_sha256}
        if self.weights_sha256 is None and "weights_sha256" not in self.keys:
            del known["weights_sha256"]  # a file without the key stays without it
        if self.view is not None:
            known["view"] = self.view.to_dict()
        values = {**self.meta, **known}
        order = [k for k in self.keys if k in values] + [k for k in values if k not in self.keys]
        return {k: values[k] for k in order}

    @classmethod
    def from_dict(cls, store: RunStore, data: dict[str, Any]) -> "Run":
        try:
            return cls(store, RunConfig.from_dict(data["config"]), list(data["class_names"]),
                       [list(g) for g in data["task_classes"]], dict(data["input"]), data.get("weights_sha256"),
                       {k: v for k, v in data.items() if k not in _KNOWN},
                       tuple(data), stored_view(data.get("view")))
        except (KeyError, TypeError) as exc:
            raise StoreError(f"{store.root / 'run.json'} lacks {exc}: it is not an edgecl run file") from None

    @property
    def root(self) -> Path:
        return self.store.root

    @property
    def name(self) -> str:
        return self.store.root.name

    @property
    def num_tasks(self) -> int:
        return len(self.task_classes)

    def finished_tasks(self) -> list[int]:
        return self.store.finished_tasks()

    def task_class_names(self, task: int) -> list[str]:
        """Names of the classes 1-based ``task`` brings."""
        return [self.class_names[c] for c in self.task_classes[task - 1]]

    def seen_class_names(self, task: int) -> list[str]:
        """Names of every class seen up to ``task``, in the model's output order."""
        return [self.class_names[c] for c in seen_classes(self.task_classes, task)]

    def seed(self, task: int) -> int:
        """The per-task seed (data order, augmentation, head init, alignment sampling)."""
        return task_seed(self.config.seed, task)


def open_run(root: str | Path) -> Run:
    """The run stored at ``root``; a missing or foreign folder is a one-line StoreError."""
    store = RunStore(root)
    if not store.exists():
        raise UsageError(f"no run at {root}: create one with `edgecl learn --run {root}`")
    return Run.from_dict(store, store.read_run())
