"""The seen tasks' test sets as DeepStream's ``nvinfer`` sees them: each original image scaled
straight to the network size, no shorter-side resize and no centre crop.

edgecl's evaluation preprocessing may resize the shorter side and crop the centre (the input spec's
``resize``); nvinfer scales the whole frame or object instead, so a deployed DeepStream pipeline
sees squashed images where edgecl saw cropped ones. The exporter measures the model on these views
(``manifest.deepstream.accuracy_pct``) so that difference has a number before deployment. Same
colour conversion and 8-bit scaling as everywhere else (:mod:`edgecl_runtime.inputs.preprocess`), with
``resize`` set to null, which is exactly "resize to crop x crop".
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from edgecl.data.run_data import RunData
from edgecl.data.transforms import eval_batch
from edgecl.exporters.parity.sources import BatchSource

BATCH = 32  # images decoded at once, as for the other export sets


def nvinfer_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with nvinfer's geometry: resize straight to ``crop x crop``."""
    return {**spec, "resize": None}


def nvinfer_sources(data: RunData, task: int, batch_size: int = BATCH) -> list[BatchSource] | None:
    """One streamed nvinfer-view test set per seen task (1..``task``); None when the run's own
    evaluation preprocessing already is nvinfer's (no shorter-side resize), so the exporter reuses
    the test sets it has."""
    if data.spec.get("resize") is None:
        return None
    spec = nvinfer_spec(data.spec)
    imageset = data.source.test
    chw = (1 if spec["color"] == "L" else 3, spec["crop"], spec["crop"])
    sources = []
    for j in range(1, task + 1):
        idx = data.indices("test", j)
        labels = data.position[torch.from_numpy(np.asarray(imageset.labels)[idx])].numpy()
        sources.append(BatchSource(labels, chw, _reader(imageset, idx, labels, spec, batch_size)))
    return sources


def _reader(imageset: Any, idx: np.ndarray, labels: np.ndarray, spec: dict[str, Any], batch_size: int):
    def read(rows: np.ndarray) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
        for i in range(0, len(rows), batch_size):
            part = rows[i:i + batch_size]
            yield eval_batch(imageset, idx[part], spec), labels[part]
    return read


__all__ = ["nvinfer_sources", "nvinfer_spec"]
