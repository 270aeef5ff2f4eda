"""Answering one decoded ``serve`` request on the bundle being served.

Why a separate policy object: what a request may cost is the operator's decision, not the
client's. Each request names at most ``max_images`` files (default 64), each of which must pass
:class:`~edgecl_runtime.serve.paths.AllowedRoots` (inside ``--allow``, a regular file, no folder
expansion), so one request can neither read arbitrary files nor hold the server for long.
Every refusal is a one-line ``RuntimeFailure``/``ImageError`` that the server turns into an
error object.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

import numpy as np

from ..predict.classifier import Classifier, softmax, top_predictions
from ..errors import ImageError, RuntimeFailure
from ..inputs.images import decode_image
from .paths import AllowedRoots

DEFAULT_MAX_IMAGES = 64


@dataclass(frozen=True)
class Served:
    """What requests run on: immutable, swapped as a whole."""

    task: int
    path: Path
    classifier: Classifier
    created: float = float("-inf")  # the manifest's creation time (POSIX seconds): swaps go forward only


@dataclass(frozen=True)
class RequestPolicy:
    """Limits every request is held to (set by the operator on the command line)."""

    roots: AllowedRoots = field(default_factory=AllowedRoots)
    max_images: int = DEFAULT_MAX_IMAGES
    top_k: int = 5


def request_id(request: Any) -> Any:
    """The ``id`` to echo: a string, finite number, bool or null; anything else is refused."""
    rid = request.get("id") if isinstance(request, dict) else None
    if rid is None or isinstance(rid, (str, bool, int)):
        return rid
    if isinstance(rid, float) and math.isfinite(rid):
        return rid
    raise RuntimeFailure("'id' must be a string, a number or null")


def answer(served: Served, request: Any, policy: RequestPolicy) -> Dict[str, Any]:
    """The answer fields (without ``id``) for one request; raises RuntimeFailure when refused."""
    if not isinstance(request, dict):
        raise RuntimeFailure("request must be a JSON object with 'image' or 'images'")
    if request.get("cmd") == "status":
        return {"task": served.task, "bundle": str(served.path),
                "classes": served.classifier.classes}
    top_k = _top_k(request, policy.top_k)
    if "image" in request:
        rec = _classify_names(served.classifier, [request["image"]], top_k, policy.roots)[0]
        if "error" in rec:
            raise RuntimeFailure(rec["error"])
        return {"task": served.task, "predictions": rec["predictions"]}
    names = request.get("images")
    if not isinstance(names, list) or not names:
        raise RuntimeFailure("request needs 'image' (a path) or 'images' (a non-empty list)")
    if len(names) > policy.max_images:
        raise RuntimeFailure(f"request names {len(names)} images, over the limit of "
                             f"{policy.max_images} per request (--max-images); split it")
    recs = _classify_names(served.classifier, names, top_k, policy.roots)
    if all("error" in r for r in recs):
        raise RuntimeFailure("; ".join(r["error"] for r in recs))
    out: Dict[str, Any] = {"task": served.task, "predictions": [r.get("predictions") for r in recs]}
    if any("error" in r for r in recs):
        out["errors"] = [r.get("error") for r in recs]
    return out


def _top_k(request: Dict[str, Any], default: int) -> int:
    value = request.get("top_k", default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RuntimeFailure("'top_k' must be a positive integer")
    return value


def _classify_names(clf: Classifier, names: Sequence[Any], top_k: int,
                   roots: AllowedRoots) -> List[Dict[str, Any]]:
    """One record per name: ``{"predictions": [...]}`` or ``{"error": "one line"}``.

    Unlike ``Classifier.classify`` nothing is expanded: each name must be an allowed file.
    """
    records: List[Dict[str, Any]] = []
    arrays: List[np.ndarray] = []
    slots: List[int] = []
    for name in names:
        array = _prepare(clf, name, roots)
        if isinstance(array, str):
            records.append({"error": array})
        else:
            slots.append(len(records))
            records.append({})
            arrays.append(array)
    if arrays:
        for slot, probs in zip(slots, softmax(clf.logits(np.stack(arrays)))):
            records[slot]["predictions"] = top_predictions(probs, clf.classes, top_k)
    return records


def _prepare(clf: Classifier, name: Any, roots: AllowedRoots) -> Union[np.ndarray, str]:
    """The preprocessed array of one allowed image, or its one-line error text.

    The image is decoded from the descriptor ``roots.open`` checked, never reopened by name.
    """
    try:
        fh, label = roots.open(name)
        with fh:
            image = decode_image(fh, label)
        return clf.prepare(image, label)
    except ImageError as exc:
        return str(exc)
