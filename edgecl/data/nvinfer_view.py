"""The seen tasks' test sets as DeepStream's ``nvinfer`` sees them: each original image scaled
straight to the network size with nvinfer's filter, no shorter-side resize and no centre crop.

edgecl's evaluation preprocessing may resize the shorter side and crop the centre (the input spec's
``resize``), with PIL's antialiased bilinear filter; nvinfer scales the whole frame or object with
the config's ``scaling-filter`` and no antialiasing (:mod:`edgecl.exporters.nvidia.nvinfer_scale`).
The exporter measures the model on these views (``manifest.deepstream.accuracy_pct`` for the
bilinear filter the configs set, ``nearest_accuracy_pct`` for nvinfer's default) so the difference
has a number before deployment. Colour conversion as everywhere else
(:mod:`edgecl_runtime.inputs.preprocess`).
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from edgecl_runtime.inputs.preprocess import to_color

from edgecl.data.run_data import RunData
from edgecl.exporters.nvidia.nvinfer_scale import nvinfer_input
from edgecl.exporters.parity.sources import BatchSource

BATCH = 32  # images decoded at once, as for the other export sets


def nvinfer_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with nvinfer's geometry: resize straight to ``crop x crop``."""
    return {**spec, "resize": None}


def nvinfer_sources(data: RunData, task: int, filter: str = "bilinear",
                    batch_size: int = BATCH) -> list[BatchSource] | None:
    """One streamed nvinfer-view test set per seen task (1..``task``), scaled with ``filter``; None
    when nothing is scaled (an array set already ``crop x crop`` with no shorter-side resize), so
    the exporter reuses the test sets it has."""
    spec = nvinfer_spec(data.spec)
    imageset = data.source.test
    arr = imageset.array
    if data.spec.get("resize") is None and arr is not None and arr.shape[1:3] == (spec["crop"], spec["crop"]):
        return None
    chw = (1 if spec["color"] == "L" else 3, spec["crop"], spec["crop"])
    sources = []
    for j in range(1, task + 1):
        idx = data.indices("test", j)
        labels = data.position[torch.from_numpy(np.asarray(imageset.labels)[idx])].numpy()
        sources.append(BatchSource(labels, chw, _reader(imageset, idx, labels, (spec, filter), batch_size)))
    return sources


def _reader(imageset: Any, idx: np.ndarray, labels: np.ndarray, how: tuple[dict[str, Any], str],
            batch_size: int):
    spec, filter = how

    def view(i: int) -> np.ndarray:
        pixels = np.asarray(to_color(imageset.image(int(i)), spec["color"]), dtype=np.uint8)
        return nvinfer_input(pixels, spec["crop"], filter)

    def read(rows: np.ndarray) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
        for i in range(0, len(rows), batch_size):
            part = rows[i:i + batch_size]
            yield torch.from_numpy(np.stack([view(j) for j in idx[part]])), labels[part]
    return read


__all__ = ["nvinfer_sources", "nvinfer_spec"]
