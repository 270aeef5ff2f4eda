"""The golden set of a bundle rebuilt by an update, as bytes that are the same on every machine.

``np.savez`` stamps the current time into its zip entries, so two writers never agree on the file's
sha256. The update's target manifest names golden.npz's sha256 *before* the device builds it, so
trainer and device both write it with :func:`npz_bytes`: stored (uncompressed) entries in a fixed
order with a fixed 1980-01-01 timestamp, each array in ``.npy`` format 1.0. ``np.load`` reads it as
any npz (no pickle).

Composition (:func:`compose_golden`): the base bundle's golden inputs (the device already has them),
then the new tasks' images shipped as uint8 and turned into float32 by x / 255; labels, task ids and
the target model's PyTorch logits for every row come with the update.
"""
from __future__ import annotations

import io
import zipfile
from typing import Dict, Mapping

import numpy as np

ORDER = ("inputs", "labels", "task_ids", "logits")
DTYPES = {"inputs": np.float32, "labels": np.int64, "task_ids": np.int64, "logits": np.float32}
EPOCH = (1980, 1, 1, 0, 0, 0)


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A deterministic npz of ``arrays`` (keys of :data:`ORDER`, in that order)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for key in ORDER:
            info = zipfile.ZipInfo(f"{key}.npy", date_time=EPOCH)
            info.external_attr = 0o644 << 16
            arr = np.ascontiguousarray(np.asarray(arrays[key], dtype=DTYPES[key]))
            npy = io.BytesIO()
            np.lib.format.write_array(npy, arr, version=(1, 0), allow_pickle=False)
            zf.writestr(info, npy.getvalue())
    return buf.getvalue()


def new_images_uint8(images: np.ndarray) -> np.ndarray:
    """float32 images in [0, 1] -> uint8 (round(255 x)), the compact form an update ships."""
    return np.clip(np.rint(np.asarray(images, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def compose_golden(base_inputs: np.ndarray, new_images: np.ndarray, labels: np.ndarray,
                   task_ids: np.ndarray, logits: np.ndarray) -> Dict[str, np.ndarray]:
    """The rebuilt golden arrays: base inputs + uint8 new images / 255, with the shipped rows."""
    base = np.asarray(base_inputs, dtype=np.float32)
    new = np.asarray(new_images)
    if new.dtype != np.uint8 or new.ndim != 4 or (len(new) and new.shape[1:] != base.shape[1:]):
        raise ValueError(f"new golden images {new.shape} {new.dtype} do not match the base's "
                         f"{base.shape[1:]} float32 inputs: the update belongs to another run")
    inputs = np.concatenate([base, new.astype(np.float32) / np.float32(255.0)])
    n = len(inputs)
    if np.shape(labels) != (n,) or np.shape(task_ids) != (n,) or np.ndim(logits) != 2 or len(logits) != n:
        raise ValueError(f"update golden rows disagree: {n} inputs, labels {np.shape(labels)}, "
                         f"task ids {np.shape(task_ids)}, logits {np.shape(logits)}")
    return {"inputs": inputs, "labels": np.asarray(labels, np.int64), "task_ids": np.asarray(task_ids, np.int64),
            "logits": np.asarray(logits, np.float32)}
