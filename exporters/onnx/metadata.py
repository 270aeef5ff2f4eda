"""Self-describing ONNX: the class names, task, input spec, run and edgecl version inside the model.

A bundle's ``manifest.json`` says what a model is, but an ONNX file copied on its own (into a Triton
repository, a DeepStream folder, Netron) loses that. ``metadata_props`` travel with the file and
every ONNX tool shows them; ``model_version`` is the task number, so two copies of the same run's
model are told apart without a manifest. Stamping is done in the staging folder before the
manifest is built, so the sha256 in ``files`` is that of the stamped file. Metadata does not change
the graph: the gates run before stamping stay valid.
"""
from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import onnx
from edgecl_runtime.atomic_io import atomic_path

KEY_PREFIX = "edgecl."
KEYS = ("classes", "task", "input_spec", "run", "version", "precision")


def edgecl_version() -> str:
    """The installed edgecl version ("unknown" when running from an uninstalled tree)."""
    try:
        return importlib.metadata.version("edgecl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def metadata_for(*, classes: Sequence[str], task: int, input_spec: Mapping[str, Any], run: str,
                 precision: str) -> dict[str, str]:
    """The ``metadata_props`` edgecl writes (all strings; lists and dicts as compact JSON)."""
    return {
        f"{KEY_PREFIX}classes": json.dumps([str(c) for c in classes], ensure_ascii=False),
        f"{KEY_PREFIX}task": str(int(task)),
        f"{KEY_PREFIX}input_spec": json.dumps(dict(input_spec), sort_keys=True),
        f"{KEY_PREFIX}run": str(run),
        f"{KEY_PREFIX}version": edgecl_version(),
        f"{KEY_PREFIX}precision": str(precision),
    }


@dataclass(frozen=True)
class BundleIdentity:
    """What a bundle's files are stamped with and its configs name: class names, task, input spec, run."""

    classes: tuple[str, ...]
    task: int
    input_spec: Mapping[str, Any]
    run: str

    def metadata(self, precision: str) -> dict[str, str]:
        return metadata_for(classes=self.classes, task=self.task, input_spec=self.input_spec, run=self.run,
                            precision=precision)


def stamp_onnx(path: str | Path, props: Mapping[str, str], *, model_version: int) -> Path:
    """Set ``props`` (replacing same-named entries, keeping others) and ``model_version``, atomically.

    External weight files are not loaded or touched: only the graph file is rewritten, and its
    references to ``<name>.data`` stay as they were.
    """
    path = Path(path)
    if int(model_version) < 0:
        raise ValueError(f"model_version must be >= 0 (the task number), got {model_version}")
    model = onnx.load(str(path), load_external_data=False)
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    for key, value in kept + sorted(props.items()):
        model.metadata_props.add(key=key, value=str(value))
    model.model_version = int(model_version)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """``metadata_props`` of an ONNX file as a dict (weights not loaded)."""
    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


__all__ = ["metadata_for", "stamp_onnx", "read_metadata", "edgecl_version", "KEY_PREFIX"]
