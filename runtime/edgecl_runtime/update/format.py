"""The update package contract: names, version, and the checks both sides share.

``RUN/task-NN/update-from-MM/`` holds:
- ``update.json``: what the update is (below), signed into ``update.sig`` when the run has a key;
- ``branch-TT.safetensors``: the factors of every task T in M+1..N (applied in order);
- ``onnx/<file>``: a patch of each ONNX file of the target bundle against the base's same file
  (:mod:`.onnx_fill`), or the file whole when it cannot be reproduced on a device;
- ``golden.safetensors``: the new tasks' golden images (uint8) and, for every row of the rebuilt
  golden set (the base's golden inputs, then those images), labels, task ids and PyTorch logits;
- ``bundle/``: the target bundle's ``manifest.json`` (+ ``manifest.sig``) and every small file
  shipped whole (labels, DeepStream configs, Polygraphy data).
``update.json``: ``base`` (sha256 of the base bundle's manifest and of every file it lists),
``target`` (the target manifest's sha256), ``steps``, ``onnx`` (lists and fills per file), ``qkv_source``
(which base FP32 initializer holds block b's qkv weight) and ``contents`` (sha256 and size of
every file of the update folder, so a truncated or edited update is refused before any work).

Every name ``update.json`` gives (a step's factors, golden, an ONNX file, a listed content) is a
relative path below the folder it names a file of (:func:`checked_name`), and every file of the
update is read through :func:`read_listed`: no symbolic link followed (on any component), only
regular files, only listed ones, and the bytes used are the bytes whose sha256 was checked. An
update folder holding a link or a special file is refused whole (:func:`content_entries`).
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterator, Mapping, Tuple

from ..atomic_io import sha256_file
from ..errors import BundleError

UPDATE_NAME = "update.json"
UPDATE_SIGNATURE = "update.sig"
UPDATE_KIND = "edgecl-update"
UPDATE_VERSION = 2  # 2: ONNX files travel as patches (``lists``); 1 (skeletons) is still read
BUNDLE_FOLDER = "bundle"
ONNX_FOLDER = "onnx"
GOLDEN_UPDATE = "golden.safetensors"


def update_dirname(base_task: int) -> str:
    return f"update-from-{base_task:02d}"


def branch_name(task: int) -> str:
    return f"branch-{task:02d}.safetensors"


MAX_NAME = 1024  # longest name an update may give (PATH_MAX is 4096; edgecl's names are short)
MAX_PARTS = 16


def _shown(name: Any) -> str:
    """A name as an error line shows it: escaped, at most 80 characters."""
    return ascii(str(name)[:80])


def checked_name(name: Any, what: str = "update") -> str:
    """``name`` when it is a plain relative path (``a/b.onnx``); one-line BundleError otherwise.

    Refused: not a string, empty, absolute, ``..`` or ``.`` components, empty components, a
    backslash or NUL, longer than MAX_NAME or deeper than MAX_PARTS: such a name could only point
    outside the folder it is resolved in.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_NAME or "\\" in name or "\0" in name:
        raise BundleError(f"{what} names {_shown(name)}, which is not a plain relative file name; "
                          "refusing it (re-export the update)")
    parts = name.split("/")
    if name.startswith("/") or len(parts) > MAX_PARTS or any(p in ("", ".", "..") for p in parts):
        raise BundleError(f"{what} names {_shown(name)}, outside its folder; refusing it (re-export the update)")
    return str(PurePosixPath(*parts))


def _walk(root: Path, rel: Tuple[str, ...] = ()) -> Iterator[Tuple[str, os.stat_result]]:
    """(relative name, lstat) of every regular file below ``root``; BundleError on a link or special file."""
    with os.scandir(root.joinpath(*rel)) as entries:
        listed = sorted(entries, key=lambda e: e.name)
    for entry in listed:
        name = "/".join(rel + (entry.name,))
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, rel + (entry.name,))
        elif stat.S_ISREG(st.st_mode):
            yield name, st
        else:
            kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            raise BundleError(f"update {root}: {_shown(name)} is {kind}; an update holds only regular "
                              "files, re-copy the update")


def content_entries(folder: "str | os.PathLike[str]") -> Dict[str, Dict[str, Any]]:
    """{relative path: {"sha256", "bytes"}} of every file in an update folder but update.json/.sig
    (links and special files refused, never followed)."""
    root = Path(folder)
    out = {}
    for name, st in _walk(root):
        if name not in (UPDATE_NAME, UPDATE_SIGNATURE):
            out[name] = {"sha256": sha256_file(root / name), "bytes": st.st_size}
    return out


def _open_beneath(root: Path, name: str) -> int:
    """A read descriptor of the regular file ``root/name``, no link followed on any component."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    parts = name.split("/")
    fd = os.open(root, flags | getattr(os, "O_DIRECTORY", 0))
    try:
        for part in parts[:-1]:
            nxt = os.open(part, flags | getattr(os, "O_DIRECTORY", 0), dir_fd=fd)
            os.close(fd)
            fd = nxt
        out = os.open(parts[-1], flags | getattr(os, "O_NONBLOCK", 0), dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(out).st_mode):
        os.close(out)
        raise OSError(errno.EINVAL, "not a regular file", name)
    return out


def read_listed(folder: Path, update: Mapping[str, Any], name: Any) -> bytes:
    """The bytes of the update's file ``name``: contained, listed in ``contents``, a regular file
    reached without following a link, with the listed sha256 (read once: the bytes checked are the
    bytes used). One-line BundleError otherwise; the message never shows the file's bytes."""
    name = checked_name(name)
    entry = update["contents"].get(name)
    if not isinstance(entry, dict):
        raise BundleError(f"update {folder} names {_shown(name)}, which its contents do not list; "
                          "re-export the update")
    try:
        fd = _open_beneath(folder, name)
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise BundleError(f"update {folder}: {_shown(name)} is missing; re-copy the update") from None
    except OSError as exc:  # ELOOP: a link; ENOTDIR; not a regular file; permission
        raise BundleError(f"update {folder}: {_shown(name)} cannot be read as a regular file without "
                          f"following links ({exc.strerror or type(exc).__name__}); re-copy the update") from None
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise BundleError(f"update {folder}: {_shown(name)} was altered (sha256 mismatch); re-copy the update")
    return data


def check_contents(folder: Path, update: Mapping[str, Any]) -> None:
    """Every listed file present with its size and sha256, and nothing unlisted."""
    listed = update.get("contents")
    if not isinstance(listed, dict) or not listed:
        raise BundleError(f"update {folder}: {UPDATE_NAME} lists no contents; re-export the update")
    found = content_entries(folder)
    for name, entry in listed.items():
        got = found.get(name)
        if got is None:
            raise BundleError(f"update {folder}: {name} is missing; re-copy the update")
        if got["bytes"] != entry.get("bytes"):
            raise BundleError(f"update {folder}: {name} has {got['bytes']} bytes, expected {entry.get('bytes')} "
                              "(truncated?); re-copy the update")
        if got["sha256"] != entry.get("sha256"):
            raise BundleError(f"update {folder}: {name} was altered (sha256 mismatch); re-copy the update")
    extra = sorted(set(found) - set(listed))
    if extra:
        raise BundleError(f"update {folder}: {extra[0]} is not part of the update; re-copy the update")


def base_identity(bundle: Path, manifest_name: str, files: Mapping[str, Any]) -> Dict[str, Any]:
    """{"manifest_sha256", "files": {name: sha256}} of a bundle, as an update names its base."""
    return {"manifest_sha256": sha256_file(bundle / manifest_name),
            "files": {name: str(entry["sha256"]) for name, entry in files.items()}}


def check_base(bundle: Path, manifest_name: str, expected: Mapping[str, Any]) -> None:
    """Refuse a base bundle that is not the one the update was made from (or was altered since)."""
    path = bundle / manifest_name
    if not path.is_file():
        raise BundleError(f"{bundle} is not a bundle ({manifest_name} missing); pass the base bundle folder")
    if sha256_file(path) != expected.get("manifest_sha256"):
        raise BundleError(f"{bundle} is not the base this update was made from (manifest sha256 differs); "
                          "apply it to the bundle it names or ask for an update from this one")
    for name, sha in dict(expected.get("files", {})).items():
        file = bundle / name
        if not file.is_file() or sha256_file(file) != sha:
            raise BundleError(f"base bundle {bundle}: {name} is missing or altered; re-copy the base bundle")
