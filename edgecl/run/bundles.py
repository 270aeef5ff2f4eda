"""The bundles of a run's tasks: which exist, which are missing, and leftovers of killed exports.

A task is written (with its record) before its bundle is exported, so a process killed during the
export leaves a finished task without ``task-NN/export/``. The record says whether that call meant
to export (``export_requested``), so the gap is visible (``edgecl status``: "export missing") and
the next ``learn`` redoes it. A killed writer also leaves hidden temporaries beside what it was
writing (``.export.partial-*`` folders, ``.export.*.old`` during a swap, ``.NAME.*.tmp`` files, the same
for ``update-from-MM/`` folders);
:func:`clean_leftovers` removes them, always under the run's lock (no writer is running then).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from edgecl_runtime.atomic_io import PARTIAL, read_json, sha256_file
from edgecl_runtime.contract import MANIFEST_NAME

from edgecl.errors import StoreError
from edgecl.run.store import RunStore

EXPORT_DIR = "export"
BUNDLE = "bundle"
MISSING = "export missing"
NOT_EXPORTED = "not exported"


def bundle_dir(store: RunStore, task: int) -> Path:
    return store.task_dir(task) / EXPORT_DIR


def export_state(store: RunStore, task: int) -> str:
    """``bundle`` | ``export missing`` (asked for, never completed) | ``not exported`` (``--no-export``)."""
    if (bundle_dir(store, task) / MANIFEST_NAME).is_file():
        return BUNDLE
    return MISSING if store.record(task).get("export_requested") else NOT_EXPORTED


def missing_exports(store: RunStore) -> list[int]:
    """Finished tasks whose bundle was asked for but is not there."""
    return [t for t in store.finished_tasks() if export_state(store, t) == MISSING]


def leftovers(store: RunStore) -> list[Path]:
    """Temporaries a killed writer left in the run folder and its task folders."""
    found = list(store.root.glob(f".task-*.{PARTIAL}-*")) + list(store.root.glob(".*.tmp"))
    for task_dir in store.root.glob("task-[0-9][0-9]*"):
        if task_dir.is_dir() and not task_dir.is_symlink():
            for pattern in (f".{EXPORT_DIR}.{PARTIAL}-*", f".{EXPORT_DIR}.*.old", ".*.tmp",
                            f".update-from-*.{PARTIAL}-*", ".update-from-*.old"):
                found += task_dir.glob(pattern)
    return sorted(found)


def clean_leftovers(store: RunStore) -> list[Path]:
    """Remove :func:`leftovers` (call with the run's lock held); returns what was removed."""
    removed = leftovers(store)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


def verify_bundle(store: RunStore, task: int) -> int:
    """Check every file the bundle's manifest lists against its sha256; returns the file count."""
    folder = bundle_dir(store, task)
    try:
        files = read_json(folder / MANIFEST_NAME, f"manifest of task {task}")["files"]
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{folder / MANIFEST_NAME} is not a valid manifest ({exc}): "
                         f"export it again with `edgecl export --run {store.root} --task {task}`") from None
    inside = folder.resolve()
    for name, entry in files.items():
        path = folder / name
        if inside not in path.resolve().parents or not path.is_file() or sha256_file(path) != entry.get("sha256"):
            raise StoreError(f"{path} is missing or does not match the manifest's sha256: "
                             f"export it again with `edgecl export --run {store.root} --task {task}`")
    return len(files)
