"""Helpers for serve tests that synchronise on events, never on sleeps or timing.

``publish`` builds a bundle in a hidden folder beside the run and renames it into place, so the
watcher sees either nothing or the complete (possibly deliberately altered) bundle. ``LogWatch``
and ``Signal`` let a test wait for a log line, a number of answers or watcher polls; their
timeouts are only a safety net against a hang, not a way to order events.
"""
from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, List

from PIL import Image

from tests.runtime.rt_factory import make_bundle, tamper_same_size

SAFETY_S = 300.0  # a hang fails the test after this long; nothing waits for it to pass


def publish(run: Path, task: int, tamper: bool = False, **kw: Any) -> Path:
    """Write task ``task``'s bundle beside ``run/task-NN`` (altered if asked), then rename it in."""
    staging = run / f".task-{task:02d}.tmp"
    bundle = make_bundle(staging / "export", task=task, **kw)
    if tamper:
        tamper_same_size(bundle / "model.onnx")
    os.rename(staging, run / f"task-{task:02d}")
    return run / f"task-{task:02d}" / "export"


def gray_png(path: Path, value: int = 128) -> Path:
    """A 28x28 grey PNG (what the tiny test bundles take)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (28, 28), value).save(path)
    return path


class Signal:
    """A condition a test waits on; the threads that change the watched state call ``notify``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = SAFETY_S) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)


class LogWatch(Signal):
    """A ``log`` callable for ModelServer that records lines and wakes waiters."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: List[str] = []

    def __call__(self, msg: str) -> None:
        self.lines.append(msg)
        self.notify()

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def wait_for(self, text: str) -> bool:
        return self.wait(lambda: self.count(text) > 0)


def count_polls(server: Any) -> Callable[[int], bool]:
    """Instrument ``server.refresh``; returns ``wait(n)``: block until n more refreshes finished."""
    done, signal, original = [0], Signal(), server.refresh

    def counted() -> bool:
        try:
            return original()
        finally:
            done[0] += 1
            signal.notify()

    server.refresh = counted

    def wait(n: int) -> bool:
        target = done[0] + n
        return signal.wait(lambda: done[0] >= target)

    return wait


def serve_lines(server: Any, lines: List[bytes]) -> List[dict]:
    """Feed raw byte lines to ``server.serve``; the decoded answers, one per non-blank line."""
    out = io.StringIO()
    server.serve(io.BytesIO(b"".join(line + b"\n" for line in lines)), out)
    return [json.loads(line) for line in out.getvalue().splitlines()]
