"""``--triton REPO``: publish an exported task into a Triton model repository (no printing).

The work is :func:`edgecl.exporters.nvidia.triton.publish_triton`; this module gives it the run's names and
turns its refusals into edgecl's exit codes: a bad repository or model name is a command-line
problem (exit 2, checked before any export work), a bundle that may not be published is a job that
could not be done (exit 1).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from edgecl.errors import ExportFailed, UsageError
from edgecl.exporters.nvidia.triton import TritonNameError, TritonRefused, check_model_name, publish_triton
from edgecl.run.run import Run
from edgecl_runtime.errors import BundleError


def triton_name(run: Run, name: str | None) -> str:
    """The model name: ``name`` or the run's name; checked (UsageError naming --triton-name)."""
    chosen = name if name is not None else run.name
    try:
        return check_model_name(chosen)
    except TritonNameError as exc:
        raise UsageError(str(exc)) from None


def check_repo(repo: str | Path) -> Path:
    """The repository folder: created if missing; an existing file there is refused before any work."""
    path = Path(repo)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--triton {path} is a file, not a folder: give a Triton model repository folder")
    return path


def publish_task(run: Run, manifest: Mapping[str, Any], repo: str | Path, name: str | None) -> dict[str, Any]:
    """Publish the task of ``manifest`` (its bundle in the run store) as version N of ``repo/name``."""
    model = triton_name(run, name)
    bundle = run.store.task_dir(int(manifest["task"])) / "export"
    try:
        return publish_triton(bundle, check_repo(repo), model)
    except (TritonRefused, BundleError) as exc:
        raise ExportFailed(str(exc)) from None
    except OSError as exc:
        raise ExportFailed(f"cannot write the Triton repository {repo}: {exc.strerror or exc};"
                           " choose a writable folder") from None


__all__ = ["publish_task", "triton_name", "check_repo"]
