"""Input pipeline throughput: edgecl's loader against torchvision's DataLoader, side by side.

Generates a JPEG class folder with ImageNet-R-like sizes (300-500 x 350-600 px) in a temporary
directory, then times, for each worker count, images per second of

* edgecl train: ``iterate_batches(..., augment="crop-flip")`` at 224 px (RandomResizedCrop + flip);
* torchvision train: ``ImageFolder`` + ``v2.RandomResizedCrop(224)`` + ``v2.RandomHorizontalFlip``
  + ``ToImage`` + ``ToDtype(float32, scale=True)`` in a ``DataLoader`` with the same workers;
* edgecl eval: ``iterate_batches(..., augment="none")`` (the device's resize 256 + centre crop 224);
* torchvision eval: ``ImageFolder`` + ``v2.Resize(256)`` + ``v2.CenterCrop(224)`` + the same tensors.

For reference, ``grid_sample`` times (workers 0 only) the float path crop-flip took before file-backed
sets were cropped in PIL (whole image to float, then ``grid_sample``), with the same boxes.

Each pass reads every image once (first a warm-up pass so the page cache holds the files).

    python benchmarks/bench_input.py [--images 400] [--batch 32] [--workers 0,1,2] [--threads 1]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_folder(root: Path, n: int, classes: int = 10, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for k in range(n):
        h, w = int(rng.integers(300, 501)), int(rng.integers(350, 601))
        # smooth gradients plus noise: compresses like a photo, not like flat colour
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * (1 + k % 3) + yy) % 256, (yy * 2 + k) % 256, (xx + yy * (k % 5)) % 256], -1)
        img = np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        folder = root / f"class_{k % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{k:05d}.jpg", quality=90)


def rate(batches, n: int) -> float:
    start = time.perf_counter()
    seen = 0
    for x, _ in batches:
        seen += len(x)
    assert seen == n, (seen, n)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", default="0,1,2")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the main process")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from torchvision import datasets
    from torchvision.transforms import v2

    from edgecl.data.imageset import FileImageSet
    from edgecl.data.loader import epoch_order, iterate_batches, make_generator
    from edgecl.data.transforms import _raw_images, random_resized_crop_flip
    from edgecl_runtime.inputs.preprocess import input_spec

    tv_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    tv_train = v2.Compose([v2.RandomResizedCrop(224), v2.RandomHorizontalFlip(), *tv_tensor])
    tv_eval = v2.Compose([v2.Resize(256), v2.CenterCrop(224), *tv_tensor])
    spec = input_spec("RGB", 224, resize=256)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        make_folder(root, args.images)
        files = FileImageSet(sorted(root.glob("*/*.jpg")), [int(p.parent.name[-2:]) for p in sorted(root.glob("*/*.jpg"))])
        idx = np.arange(len(files))
        n = len(idx)

        def edgecl(augment: str, workers: int):
            return iterate_batches(files, idx, spec, args.batch, augment=augment, shuffle=True, seed=0, epoch=0,
                                   workers=workers)

        def grid_sample():
            order = epoch_order(idx, shuffle=True, seed=0, epoch=0)
            for b in range(0, n, args.batch):
                part = order[b:b + args.batch]
                yield random_resized_crop_flip(_raw_images(files, part, "RGB"), 224, make_generator(0, 0, 1, b // args.batch)), None

        def torchvision(transform, workers: int):
            ds = datasets.ImageFolder(str(root), transform=transform)
            return torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, num_workers=workers)

        rate(edgecl("none", 0), n)  # warm the page cache
        print(f"{n} JPEGs 300-500 x 350-600 px, batch {args.batch}, 224 px, main-process torch threads {args.threads}")
        print(f"{'pipeline':<12}{'workers':>8}{'edgecl img/s':>14}{'torchvision img/s':>19}{'ratio':>8}")
        old, theirs = rate(grid_sample(), n), rate(torchvision(tv_train, 0), n)
        print(f"{'grid_sample':<12}{0:>8}{old:>14.0f}{theirs:>19.0f}{old / theirs:>8.2f}", flush=True)
        for workers in (int(w) for w in args.workers.split(",")):
            for name, augment, transform in (("train", "crop-flip", tv_train), ("eval", "none", tv_eval)):
                ours = rate(edgecl(augment, workers), n)
                theirs = rate(torchvision(transform, workers), n)
                print(f"{name:<12}{workers:>8}{ours:>14.0f}{theirs:>19.0f}{ours / theirs:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
