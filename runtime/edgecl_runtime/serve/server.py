"""JSON-lines model server with verified hot-swap of newer task bundles.

Protocol (one JSON object per line on stdin, one response line per request on stdout):

* ``{"id": 1, "image": "a.png"}`` -> ``{"id": 1, "task": 3, "predictions": [{"class", "index",
  "probability"}, ...]}``
* ``{"id": 2, "images": ["a.png", "b.png"]}`` -> ``{"id": 2, "task": 3, "predictions": [[...],
  null]), "errors": [null, "b.png: not an image ..."]}`` (``errors`` only when some failed)
* ``{"id": 3, "cmd": "status"}`` -> ``{"id": 3, "task": 3, "bundle": "...", "classes": [...]}``
* optional ``"top_k"`` per request; any failure -> ``{"id": ..., "error": "one line"}``.

Limits (why: stdin is an attack surface): image paths must be regular files inside the allowed
folders (``serve.paths``), at most ``max_images`` per request (``serve.requests``), lines at most
``max_line_bytes``; every non-blank line gets one answer, bad ones an error object, and the
server keeps serving (``serve.lines``).

Pinning: the first bundle served fixes the run (manifest ``run``) and, under ``--trust``, the
fingerprint of the key that signed it. A later bundle is swapped to only when it is of that run,
signed by that key, of a strictly higher task number and created strictly later: a bundle of
another run signed by the same key, a second bundle of the same task, or an older bundle
re-numbered are refused with one log line (restart serve to change run or key).

Hot swap: a watcher thread polls MODELS_DIR every ``poll_s`` seconds.  A bundle of a newer task
is verified fully (signature when ``trusted`` keys are given, sha256 of every file, gate levels
1-2 on golden) on the watcher thread, off the request path; only then is ``self._served``
replaced by one reference assignment under a lock.  A request grabs the current reference once
and finishes on it, so nothing in flight fails or is dropped.  A bundle that fails for any
reason (malformed manifest included) is logged in one line and remembered with its file
fingerprint; it is retried only when its files change (e.g. a copy that was still running), and
older valid bundles and later valid ones are served meanwhile. An over-the-air update folder
dropped into MODELS_DIR is first applied to its base into ``task-NN/`` (``serve.updates``), then
swapped to like any bundle.
"""
from __future__ import annotations

import functools
import re
import sys
import threading
from pathlib import Path
from typing import IO, Any, Callable, Iterable, TextIO

from ..bundle.read import fingerprint, load_bundle
from ..predict.classifier import Classifier
from ..contract import MANIFEST_NAME, SIGNATURE_NAME
from ..errors import RuntimeFailure
from ..strict_json import loads_finite
from .lines import DEFAULT_MAX_LINE_BYTES, serve_stream
from .paths import AllowedRoots
from .pin import check_pin, pin_words
from .requests import DEFAULT_MAX_IMAGES, RequestPolicy, Served, answer, request_id
from .updates import UpdateApplier
from ..bundle.verify import gate_on_golden

__all__ = ["ModelServer", "Served", "find_bundles"]


def find_bundles(models_dir: str | Path) -> list[tuple[int, Path]]:
    """(task, bundle dir) candidates, newest task first.

    MODELS_DIR is a run folder (``task-NN/export/``), a folder of bundles, or a bundle itself.
    The task number comes from the manifest, else from the folder name's digits. Dot-folders
    (a copy or an update still being written, ``.NAME.partial-*``) are never candidates.
    """
    root = Path(models_dir)
    dirs = [p.parent for p in root.glob(f"task-*/export/{MANIFEST_NAME}")]
    dirs += [p.parent for p in root.glob(f"*/{MANIFEST_NAME}")]
    dirs = [d for d in dirs if not any(part.startswith(".") for part in d.relative_to(root).parts)]
    if (root / MANIFEST_NAME).is_file():
        dirs.append(root)
    found = {d.resolve(): _task_of(d) for d in dirs}
    return sorted(((t, d) for d, t in found.items()), key=lambda td: (-td[0], str(td[1])))


def _task_of(bundle_dir: Path) -> int:
    """The manifest's task number; the folder name's digits when the manifest cannot say."""
    try:
        return int(loads_finite((bundle_dir / MANIFEST_NAME).read_text(encoding="utf-8"))["task"])
    except Exception:  # any malformed manifest: its bundle is refused later, with one log line
        digits = re.findall(r"\d+", str(bundle_dir.relative_to(bundle_dir.parent.parent)))
        return int(digits[-1]) if digits else 0


def _stamp(path: Path) -> tuple:
    """The bundle's file fingerprint plus its signature file's; never raises.

    The signature is included so that signing a refused bundle (with --trust) gets it retried;
    a malformed manifest must not stop the watcher, so any error falls back to stat alone.
    """
    try:
        files = fingerprint(path)
    except Exception:
        files = (_stat(path, MANIFEST_NAME),)
    return (*files, _stat(path, SIGNATURE_NAME))


def _stat(path: Path, name: str) -> tuple[str, int, int]:
    try:
        st = (path / name).stat()
        return (name, st.st_size, st.st_mtime_ns)
    except OSError:
        return (name, -1, -1)


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line, shortened: log and error lines stay one line each."""
    return " ".join(str(exc).split())[:200]


def _reason(exc: Exception) -> str:
    """One line for a refused bundle: the failure's own text, or the kind of malformation."""
    if isinstance(exc, RuntimeFailure):
        return str(exc)
    return f"malformed manifest or files ({type(exc).__name__}: {_one_line(exc)}); re-export the bundle"


class ModelServer:
    """Serves the newest verified bundle of MODELS_DIR; see the module docstring."""

    def __init__(self, models_dir: str | Path, backend: str = "ort", precision: str = "fp32",
                 top_k: int = 5, poll_s: float = 2.0,
                 log: Callable[[str], None] | None = None, *,
                 allow: Iterable[str | Path] | None = None, max_images: int = DEFAULT_MAX_IMAGES,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 trusted: list[Any] | None = None, allow_failed: Iterable[str] = ()) -> None:
        self.models_dir, self.backend, self.precision = Path(models_dir), backend, precision
        self.top_k, self.poll_s, self.max_line_bytes = top_k, poll_s, max_line_bytes
        self.policy = RequestPolicy(AllowedRoots(allow), max_images, top_k)
        self.trusted = trusted
        # bound to the trusted keys: every bundle ever served passes the same signature check
        self._load_bundle = functools.partial(load_bundle, trusted=trusted, allow_failed=tuple(allow_failed))
        self._signer: str | None = None  # fingerprint of the key that signed the first bundle served
        self.log = log or (lambda msg: print(f"edgecl-rt serve: {msg}", file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self._served: Served | None = None
        self._rejected: dict[Path, tuple] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._updates = UpdateApplier(self.models_dir, self.log, trusted, backend)

    @property
    def served(self) -> Served | None:
        with self._lock:
            return self._served

    def _try_load(self, task: int, path: Path) -> Served | None:
        """Verify and open a bundle; None (logged once, remembered) if it fails in any way."""
        stamp = _stamp(path)
        if self._rejected.get(path) == stamp:
            return None
        try:
            served = self._verified(task, path)
        except Exception as exc:  # malformed manifests raise anything; none may stop serving
            self._rejected[path] = stamp
            self.log(f"skipping task {task} bundle {path}: {_reason(exc)}")
            return None
        self._rejected.pop(path, None)
        return served

    def _verified(self, task: int, path: Path) -> Served:
        """Signature (with --trust), sha256 of every file, the pin, then the golden gate; raises if bad."""
        bundle = self._load_bundle(path, check_hashes=True)
        created = check_pin(bundle, self.served, self._signer)
        clf = Classifier(bundle, self.backend, self.precision)
        try:
            gate = gate_on_golden(clf.bundle, clf.backend, self.precision)
            if not gate["passed"]:
                raise RuntimeFailure(f"gate failed: {gate['reason']}")
        except BaseException:
            clf.close()
            raise
        return Served(task, path, clf, created)

    def refresh(self) -> bool:
        """Check for a newer verified bundle and swap to it; True when a swap happened."""
        current = self.served
        self._updates.apply_pending(find_bundles(self.models_dir))  # new bundles from dropped updates
        for task, path in find_bundles(self.models_dir):
            if current is not None and not task > current.task:  # never back, never sideways
                break
            new = self._try_load(task, path)
            if new is not None:
                with self._lock:
                    self._served = new
                if current is None:
                    self._signer = new.classifier.bundle.signer
                self.log(f"serving task {task} from {path} ({len(new.classifier.classes)} classes)"
                         + ("" if current is not None else pin_words(new.classifier.bundle)))
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
        try:
            rid = request_id(request)
        except RuntimeFailure as exc:
            return {"id": None, "error": str(exc)}
        served = self.served  # one reference for the whole request
        if served is None:
            return {"id": rid, "error": "no bundle is being served yet; call start() first"}
        try:
            return {"id": rid, **answer(served, request, self.policy)}
        except RuntimeFailure as exc:
            return {"id": rid, "error": str(exc)}
        except Exception as exc:  # a request must never take the server down
            return {"id": rid, "error": f"internal error: {type(exc).__name__}: {_one_line(exc)}"}

    def serve(self, stdin: IO[Any], stdout: TextIO) -> int:
        """Answer request lines until EOF (binary stdin, or text with ``.buffer``); answers written."""
        return serve_stream(stdin, stdout, self.handle, self.max_line_bytes)
