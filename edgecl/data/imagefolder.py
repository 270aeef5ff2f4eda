"""``imagefolder`` source: ``ROOT/train/<class>/*`` and ``ROOT/test/<class>/*``.

Class names are the sorted union of the sub-folder names of both splits, so a class
present in only one split still gets one fixed label.  Files are kept as paths and
decoded on demand and converted to the run's colour (the input spec's: "L" for a 1-channel
model, "RGB" for a 3-channel one, see ``edgecl.run.creation.input_color``); hidden files and files
whose suffix PIL does not know are ignored, so stray README/.DS_Store files are
harmless, while a file that is not a readable image fails (headers are checked at
load, pixels when decoded) with an error naming it.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from edgecl.data.imageset import FileImageSet, Source
from edgecl.errors import DataError, DataMissing

SPLITS = ("train", "test")


def _image_suffixes() -> set[str]:
    """Lower-case file suffixes PIL can open (.png, .jpg, ...)."""
    return {ext.lower() for ext in Image.registered_extensions()}


def _class_dirs(split_dir: Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files(class_dir: Path, suffixes: set[str]) -> list[Path]:
    """Image files directly inside ``class_dir`` (sorted for a stable order)."""
    return sorted(
        p for p in class_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
    )


def _split(root: Path, split: str, classes: list[str], suffixes: set[str]) -> FileImageSet:
    paths: list[Path] = []
    labels: list[int] = []
    split_dir = root / split
    for label, name in enumerate(classes):
        d = split_dir / name
        if d.is_dir():
            found = _files(d, suffixes)
            paths += found
            labels += [label] * len(found)
    if not paths:
        raise DataMissing(f"no images found under {split_dir}/<class>/; put image files in class sub-folders")
    images = FileImageSet(paths, labels, what=f"imagefolder {split}")
    images.check_headers()
    return images


def load_imagefolder(data_root: str | None) -> Source:
    """Load ``ROOT/train`` and ``ROOT/test`` class folders as a file-backed Source.

    Its colour follows the model (``color_follows_model``); "RGB" is the default for a model that
    can read either.
    """
    if data_root is None:
        raise DataError("the imagefolder source needs --data-root ROOT with ROOT/train/<class>/ and ROOT/test/<class>/")
    root = Path(data_root).expanduser()
    for split in SPLITS:
        if not (root / split).is_dir():
            raise DataMissing(f"{root / split} not found; imagefolder needs ROOT/train/<class>/ and ROOT/test/<class>/")
    classes = sorted(set(_class_dirs(root / "train")) | set(_class_dirs(root / "test")))
    if not classes:
        raise DataMissing(f"no class sub-folders under {root}/train or {root}/test; create one folder per class")
    suffixes = _image_suffixes()
    train = _split(root, "train", classes, suffixes)
    test = _split(root, "test", classes, suffixes)
    return Source("imagefolder", classes, train, test, "RGB", None, color_follows_model=True)
