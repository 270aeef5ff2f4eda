"""Over-the-air updates dropped into ``serve``'s models folder, applied before the hot swap looks.

An update folder (any ``*/update.json`` directly under MODELS_DIR) whose base is one of the bundles
in MODELS_DIR (same manifest sha256) is applied by :func:`edgecl_runtime.update.apply.apply_update`
into ``MODELS_DIR/task-NN/`` (N: the update's task) - signature under ``--trust``, every file's
sha256, base identity, byte-for-byte proof and golden gate included, written atomically. The new
folder is then an ordinary bundle: the watcher verifies it again and swaps to it only if it passes,
exactly as for a copied bundle. An update that cannot be applied is logged in one line and
remembered with its file fingerprint (retried when its files change, e.g. a copy still running);
one whose ``task-NN/`` already exists is left alone. Hidden folders (``.NAME``: a staging folder,
a copy in progress) are never applied, and the staging folders a killed writer left in MODELS_DIR
are removed when serve starts (``clean_stale_partials_in``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..atomic_io import clean_stale_partials_in, read_json, sha256_file
from ..contract import MANIFEST_NAME
from ..errors import RuntimeFailure
from ..update.apply import apply_update
from ..update.format import UPDATE_NAME


def _fingerprint(folder: Path) -> Tuple[Tuple[str, int, int], ...]:
    out = []
    for path in sorted(folder.rglob("*")):
        try:
            st = path.stat()
            out.append((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
        except OSError:
            continue
    return tuple(out)


def _bases(bundles: List[Tuple[int, Path]]) -> Dict[str, Path]:
    """{sha256 of manifest.json: bundle folder} of the bundles serve can see."""
    out = {}
    for _, path in bundles:
        try:
            out[sha256_file(path / MANIFEST_NAME)] = path
        except OSError:
            continue
    return out


class UpdateApplier:
    """Applies pending update folders of one models folder; remembers the ones that failed."""

    def __init__(self, models_dir: Path, log: Callable[[str], None], trusted: Optional[List[Any]] = None,
                 backend: str = "ort") -> None:
        self.models_dir, self.log, self.trusted, self.backend = models_dir, log, trusted, backend
        self._rejected: Dict[Path, tuple] = {}
        for path in clean_stale_partials_in(models_dir):
            log(f"removed {path}: the staging folder of a writer that was killed")

    def apply_pending(self, bundles: List[Tuple[int, Path]]) -> List[Path]:
        """Apply every update whose base is in ``bundles`` and whose target folder is missing."""
        done = []
        bases = _bases(bundles)
        for marker in sorted(self.models_dir.glob(f"*/{UPDATE_NAME}")):
            folder = marker.parent
            if folder.name.startswith("."):
                continue
            stamp = _fingerprint(folder)
            if self._rejected.get(folder) == stamp:
                continue
            made = self._apply(folder, bases)
            if made is None:
                self._rejected[folder] = stamp
            elif made != folder:
                done.append(made)
        return done

    def _apply(self, folder: Path, bases: Dict[str, Path]) -> Optional[Path]:
        """The new bundle folder; ``folder`` itself when there is nothing to do; None when refused."""
        try:
            update = read_json(folder / UPDATE_NAME, UPDATE_NAME)
            task, base_sha = update["task"], str(update["base"]["manifest_sha256"])
            if not isinstance(task, int) or isinstance(task, bool) or not 0 < task < 10000:
                raise ValueError("task is not a task number")
        except (OSError, ValueError, KeyError, TypeError):
            self.log(f"skipping update {folder}: {UPDATE_NAME} is not readable; re-copy the update")
            return None
        out = self.models_dir / f"task-{task:02d}"
        if out.exists():
            return folder
        base = bases.get(base_sha)
        if base is None:
            self.log(f"skipping update {folder}: its base bundle is not in {self.models_dir}; copy it there")
            return None
        try:
            apply_update(base, folder, out, trusted=self.trusted, backend=self.backend)
        except RuntimeFailure as exc:
            self.log(f"skipping update {folder}: {exc}")
            return None
        self.log(f"applied update {folder} to {base}: {out}")
        return out
