"""Open user-supplied images robustly: every bad item becomes one line naming it.

Rules:
* a directory expands to the regular files below it (recursively, sorted, dot-files skipped);
  every file is tried, so a folder of mixed files yields results for the good ones and one
  error per bad one;
* zero-byte files, non-images, truncated/corrupt images are errors (PIL's
  ``LOAD_TRUNCATED_IMAGES`` is never enabled: a half image would be classified silently);
* decompression-bomb guard: the pixel count is checked from the header *before* decoding,
  against ``_max_pixels`` (default 64 MP, env ``EDGECL_RT_MAX_PIXELS``), so a tiny file that
  claims 100k x 100k pixels is refused without allocating gigabytes. Pillow has its own guard
  (``Image.MAX_IMAGE_PIXELS``, a process-wide global); while one of our images is decoded it is
  set to our limit, under a lock, so that ``EDGECL_RT_MAX_PIXELS`` can raise the limit above
  Pillow's default and every refusal names the same limit and how to raise it;
* multi-frame files (GIF, TIFF) use their first frame.
"""
from __future__ import annotations

import os
import re
import stat
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from PIL import Image, UnidentifiedImageError

from ..errors import ImageError

DEFAULT_MAX_PIXELS = 64_000_000
_PILLOW_LIMIT = threading.Lock()  # Image.MAX_IMAGE_PIXELS and warning filters are process-wide


def _max_pixels() -> int:
    """Pixel limit: ``EDGECL_RT_MAX_PIXELS`` if set, else 64 MP; a value that is not a positive
    integer is an error rather than silently the default (the operator meant to change it)."""
    raw = os.environ.get("EDGECL_RT_MAX_PIXELS", "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    if not raw.isdigit() or int(raw) <= 0:
        raise ImageError(f"EDGECL_RT_MAX_PIXELS={raw!r} is not a positive integer; set it to a pixel "
                         f"count such as {DEFAULT_MAX_PIXELS} or unset it")
    return int(raw)


@dataclass(frozen=True)
class Item:
    """One input as given by the user: a path to try, or an error found while expanding."""

    source: str
    path: Path | None = None
    error: str | None = None


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[Item]:
    """Turn CLI/serve arguments into Items; directories expand to their files."""
    items: list[Item] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not files:
                items.append(Item(str(p), error=f"{p}: directory holds no files"))
            items.extend(Item(str(f), path=f) for f in files)
        elif p.exists():
            items.append(Item(str(p), path=p))
        else:
            items.append(Item(str(p), error=f"{p}: no such file or directory"))
    return items


def open_image(path: str | os.PathLike[str], limit: int | None = None) -> Image.Image:
    """Decode one image file fully (first frame) or raise ImageError naming it.

    The file is opened once (``O_NONBLOCK``: a FIFO cannot hang the reader) and must be a
    regular file by its descriptor; the image is decoded from that descriptor.
    """
    p = Path(path)
    try:
        fd = os.open(str(p), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ImageError(f"{p}: not a regular file; name an image file")
        return decode_image(fh, str(p), limit)


def decode_image(fh: BinaryIO, name: str, limit: int | None = None) -> Image.Image:
    """Decode the open image file ``fh`` (first frame) or raise ImageError naming ``name``."""
    limit = limit or _max_pixels()
    if os.fstat(fh.fileno()).st_size == 0:
        raise ImageError(f"{name}: empty file (0 bytes)")
    try:
        with _pillow_limit(limit), Image.open(fh) as img:
            _check_size(name, img.size, limit)
            img.seek(0)
            img.load()
            return img.copy() if getattr(img, "n_frames", 1) > 1 else img
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (format not recognised)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{claimed.group(1)} pixels > " if claimed else "over the "
        raise ImageError(f"{name}: image too large (decompression-bomb guard: {size}limit {limit}); "
                         "downscale it or raise EDGECL_RT_MAX_PIXELS") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name}: truncated or corrupt image ({_first_line(exc)})") from None
    except MemoryError:
        raise ImageError(f"{name}: image too large to decode in memory; downscale it") from None


@contextmanager
def _pillow_limit(limit: int) -> Iterator[None]:
    """Pillow's bomb guard at ``limit`` (any excess an error) for the duration of one decode."""
    with _PILLOW_LIMIT, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = limit
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _check_size(p: str, size: tuple[int, int], limit: int) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{p}: image has no pixels ({w} x {h})")
    if w * h > limit:
        raise ImageError(f"{p}: image too large ({w} x {h} = {w * h} pixels > limit {limit}); "
                         "downscale it or raise EDGECL_RT_MAX_PIXELS")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
