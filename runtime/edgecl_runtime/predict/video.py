"""Classify the frames of a video file or a camera: one JSON line per classified frame.

On a Jetson the input is often a camera or a recorded clip rather than image files.  OpenCV
decodes both (``pip install 'edgecl-runtime[video]'``, opencv-python-headless); it is imported
only here, so the runtime works without it.  Frames go through the same ``preprocess`` as image
files (OpenCV's BGR converted to RGB first), one frame at a time: a live camera should be
answered as each frame arrives, not after a batch fills.  ``every`` keeps every K-th frame;
the skipped ones are only grabbed, not decoded.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Optional, Tuple

import numpy as np
from PIL import Image

from .classifier import Classifier, softmax, top_predictions
from ..errors import ImageError

INSTALL = "install OpenCV: pip install 'edgecl-runtime[video]' (opencv-python-headless)"


def _import_cv2() -> Any:
    """The ``cv2`` module, or ImageError saying how to get it."""
    try:
        import cv2
    except ImportError:
        raise ImageError(f"video and camera input need OpenCV, which is not importable; {INSTALL}") from None
    return cv2


def _open_capture(cv2: Any, video: Optional[str], camera: Optional[int]) -> Tuple[Any, str]:
    """(opened ``cv2.VideoCapture``, source name); ImageError when it cannot be opened."""
    source = f"camera:{camera}" if video is None else str(video)
    cap = cv2.VideoCapture(int(camera)) if video is None else cv2.VideoCapture(str(video))
    if not cap.isOpened():
        cap.release()
        what = (f"camera {camera} (no such device, or in use)" if video is None else
                f"video {video} (missing, or a format this OpenCV cannot decode)")
        raise ImageError(f"cannot open {what}; check the --video path or --camera index")
    return cap, source


def frames(cv2: Any, cap: Any, every: int = 1) -> Iterator[Tuple[int, float, np.ndarray]]:
    """(frame index, time in s, RGB uint8 frame) for every ``every``-th frame until the stream ends."""
    index = -1
    while True:
        index += 1
        if index % every:
            if not cap.grab():
                return
            continue
        ok, bgr = cap.read()
        if not ok or bgr is None:
            return
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else bgr
        yield index, float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0, rgb


def classify_frame(clf: Classifier, rgb: np.ndarray, top_k: int) -> list:
    """Top-k predictions of one RGB frame through the bundle's own preprocessing."""
    batch = clf.prepare(Image.fromarray(rgb))[None]
    return top_predictions(softmax(clf.logits(batch))[0], clf.classes, top_k)


def stream_predictions(clf: Classifier, video: Optional[str], camera: Optional[int], every: int,
                       top_k: int, emit: Callable[[str], None]) -> int:
    """Emit one JSON line per classified frame; return how many frames were classified."""
    if every < 1:
        raise ImageError(f"--every {every} must be at least 1 (1 = every frame)")
    cv2 = _import_cv2()
    cap, source = _open_capture(cv2, video, camera)
    count = 0
    try:
        for index, seconds, rgb in frames(cv2, cap, every):
            record = {"source": source, "frame": index, "time_s": round(seconds, 3),
                      "task": clf.task, "predictions": classify_frame(clf, rgb, top_k)}
            emit(json.dumps(record))
            count += 1
    finally:
        cap.release()
    return count
