"""JSON-lines model server with verified hot-swap of newer task bundles.

Protocol (one JSON object per line on stdin, one response line per request on stdout):

* ``{"id": 1, "image": "a.png"}`` -> ``{"id": 1, "task": 3, "predictions": [{"class", "index",
  "probability"}, ...]}``
* ``{"id": 2, "images": ["a.png", "b.png"]}`` -> ``{"id": 2, "task": 3, "predictions": [[...],
  null]), "errors": [null, "b.png: not an image ..."]}`` (``errors`` only when some failed)
* ``{"id": 3, "cmd": "status"}`` -> ``{"id": 3, "task": 3, "bundle": "...", "classes": [...]}``
* optional ``"top_k"`` per request; any failure -> ``{"id": ..., "error": "one line"}``.

Hot swap: a watcher thread polls MODELS_DIR every ``poll_s`` seconds.  A bundle of a newer task
is verified fully (sha256 of every file + gate levels 1-2 on golden) on the watcher thread,
off the request path; only then is ``self._served`` replaced by one reference assignment under
a lock.  A request grabs the current reference once and finishes on it, so nothing in flight
fails or is dropped.  A bundle that fails is logged to stderr and remembered with its file
fingerprint; it is retried only when its files change (e.g. a copy that was still running).
"""
from __future__ import annotations

import json
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from .bundle import fingerprint, load_bundle
from .classifier import Classifier
from .contract import MANIFEST_NAME
from .errors import RuntimeFailure
from .verify import gate_on_golden


def find_bundles(models_dir: str | Path) -> list[tuple[int, Path]]:
    """(task, bundle dir) candidates, newest task first.

    MODELS_DIR is a run folder (``task-NN/export/``), a folder of bundles, or a bundle itself.
    The task number comes from the manifest, else from the folder name's digits.
    """
    root = Path(models_dir)
    dirs = [p.parent for p in root.glob(f"task-*/export/{MANIFEST_NAME}")]
    dirs += [p.parent for p in root.glob(f"*/{MANIFEST_NAME}")]
    if (root / MANIFEST_NAME).is_file():
        dirs.append(root)
    found = {d.resolve(): _task_of(d) for d in dirs}
    return sorted(((t, d) for d, t in found.items()), key=lambda td: (-td[0], str(td[1])))


def _task_of(bundle_dir: Path) -> int:
    try:
        return int(json.loads((bundle_dir / MANIFEST_NAME).read_text(encoding="utf-8"))["task"])
    except (OSError, ValueError, KeyError, TypeError):
        digits = re.findall(r"\d+", str(bundle_dir.relative_to(bundle_dir.parent.parent)))
        return int(digits[-1]) if digits else 0


@dataclass(frozen=True)
class Served:
    """What requests run on: immutable, swapped as a whole."""

    task: int
    path: Path
    classifier: Classifier


class ModelServer:
    """Serves the newest verified bundle of MODELS_DIR; see the module docstring."""

    def __init__(self, models_dir: str | Path, backend: str = "ort", precision: str = "fp32",
                 top_k: int = 5, poll_s: float = 2.0,
                 log: Callable[[str], None] | None = None) -> None:
        self.models_dir, self.backend, self.precision = Path(models_dir), backend, precision
        self.top_k, self.poll_s = top_k, poll_s
        self.log = log or (lambda msg: print(f"edgecl-rt serve: {msg}", file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self._served: Served | None = None
        self._rejected: dict[Path, tuple] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def served(self) -> Served | None:
        with self._lock:
            return self._served

    def _try_load(self, task: int, path: Path) -> Served | None:
        """Verify (sha256 + golden gate) and open a bundle; None (logged, remembered) if bad."""
        stamp = fingerprint(path)
        if self._rejected.get(path) == stamp:
            return None
        clf = None
        try:
            clf = Classifier(load_bundle(path, check_hashes=True), self.backend, self.precision)
            gate = gate_on_golden(clf.bundle, clf.backend, self.precision)
            if not gate["passed"]:
                raise RuntimeFailure(f"gate failed: {gate['reason']}")
        except RuntimeFailure as exc:
            if clf is not None:
                clf.close()
            self._rejected[path] = stamp
            self.log(f"skipping task {task} bundle {path}: {exc}")
            return None
        self._rejected.pop(path, None)
        return Served(task, path, clf)

    def refresh(self) -> bool:
        """Check for a newer verified bundle and swap to it; True when a swap happened."""
        current = self.served
        for task, path in find_bundles(self.models_dir):
            if current is not None and (task < current.task or
                                        (task == current.task and path == current.path)):
                break
            new = self._try_load(task, path)
            if new is not None:
                with self._lock:
                    self._served = new
                self.log(f"serving task {task} from {path} ({len(new.classifier.classes)} classes)")
                return True
        return False

    def start(self) -> None:
        """Load the newest good bundle now and start the watcher thread."""
        self.refresh()
        if self.served is None:
            raise RuntimeFailure(f"no bundle in {self.models_dir} passes verification; "
                                 "export one (task-NN/export/) or fix the ones listed above")
        self._watcher = threading.Thread(target=self._watch, name="edgecl-rt-watcher", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.refresh()
            except Exception as exc:  # the watcher must never die; report and keep polling
                self.log(f"watcher error: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)

    def handle(self, request: Any) -> dict[str, Any]:
        """Answer one decoded request; never raises."""
        rid = request.get("id") if isinstance(request, dict) else None
        try:
            return {"id": rid, **self._answer(request)}
        except RuntimeFailure as exc:
            return {"id": rid, "error": str(exc)}
        except Exception as exc:  # a request must never take the server down
            return {"id": rid, "error": f"internal error: {type(exc).__name__}: {exc}"}

    def _answer(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise RuntimeFailure("request must be a JSON object with 'image' or 'images'")
        served = self.served  # one reference for the whole request
        assert served is not None
        if request.get("cmd") == "status":
            return {"task": served.task, "bundle": str(served.path),
                    "classes": served.classifier.classes}
        top_k = int(request.get("top_k", self.top_k))
        if "image" in request:
            rec = served.classifier.classify([str(request["image"])], top_k)
            if len(rec) != 1 or "error" in rec[0]:
                raise RuntimeFailure(rec[0]["error"] if len(rec) == 1 else
                                     f"{request['image']}: expected one image file")
            return {"task": served.task, "predictions": rec[0]["predictions"]}
        if isinstance(request.get("images"), list) and request["images"]:
            recs = served.classifier.classify([str(p) for p in request["images"]], top_k)
            if all("error" in r for r in recs):
                raise RuntimeFailure("; ".join(r["error"] for r in recs))
            out: dict[str, Any] = {"task": served.task,
                                   "predictions": [r.get("predictions") for r in recs]}
            if any("error" in r for r in recs):
                out["errors"] = [r.get("error") for r in recs]
            return out
        raise RuntimeFailure("request needs 'image' (a path) or 'images' (a non-empty list)")

    def serve(self, stdin: TextIO, stdout: TextIO) -> None:
        """Read requests line by line until EOF; write one response line each."""
        for line in stdin:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except json.JSONDecodeError as exc:
                response = {"id": None, "error": f"request is not valid JSON ({exc.msg})"}
            else:
                response = self.handle(request)
            stdout.write(json.dumps(response) + "\n")
            stdout.flush()
