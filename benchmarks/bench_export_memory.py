"""Export memory benchmark: peak RSS of `edgecl export` vs the size of the test sets.

Builds two ImageNet-R-like JPEG class folders (random RGB photos of 300-500 x 350-600 px) that
differ only in the number of test images of task 1's classes (``--small`` vs ``--large``, default
200 vs 1,600), learns task 1 of a vit_tiny_patch16_224 run on each (``--weights none --epochs 1``,
through the public ``edgecl.learn``), then exports task 1 in a fresh subprocess, FP32 only and with
INT8, and reports each subprocess's peak RSS: ``VmHWM`` of ``/proc/self/status`` (Linux), read in
the child after the export. Not ``ru_maxrss``: Linux carries the high-water mark of the forked
copy of the parent across ``exec`` into the child's ``ru_maxrss`` (and ``RUSAGE_CHILDREN`` is a
maximum over all children), so after learning in-process every child read ~2.1 GB, the parent's
size. A ``--workdir`` that already holds the data and runs skips generating and learning them.

    python benchmarks/bench_export_memory.py                 # minutes on a 2-core CPU
    python benchmarks/bench_export_memory.py --train-per-class 32 --small 100 --large 800

Targets: the large export's peak within 250 MB of the small one's; INT8 (calibration on
min(512, training images) stratified images) adds < 500 MB over FP32 only.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLASSES = 4  # 2 tasks of 2 classes; task 1's classes carry the test images being varied
CHILD = """
import json, resource, sys, time, torch
torch.set_num_threads(int(sys.argv[3]))
import edgecl
t = time.perf_counter()
wanted = json.loads(sys.argv[2])  # exactly these formats: any other one the bundle ships is removed by name
others = ["-" + f for f in ("fp16", "int8", "int8cpu", "trt") if f not in wanted]
man = edgecl.export(sys.argv[1], task=1, formats=",".join(["none", *wanted, *others]))
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
peak = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mb": peak,
                  "seconds": time.perf_counter() - t, "n_test": man["pytorch"]["n_test"],
                  "status": {k: v["status"] for k, v in man["formats"].items()},
                  "calibration": man["formats"].get("int8", {}).get("calibration", {}).get("n")}))
"""


def make_folder(root: Path, train_per_class: int, test_task1: int, seed: int = 0) -> Path:
    """``root/train/cK/*.jpg`` and ``root/test/cK/*.jpg``; task 1 (classes 0, 1) gets ``test_task1`` tests."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, counts in (("train", [train_per_class] * CLASSES),
                          ("test", [test_task1 // 2, test_task1 - test_task1 // 2] + [4] * (CLASSES - 2))):
        for k, n in enumerate(counts):
            folder = root / split / f"c{k}"
            folder.mkdir(parents=True, exist_ok=True)
            tint = rng.integers(0, 256, 3)
            for i in range(n):
                h, w = int(rng.integers(300, 501)), int(rng.integers(350, 601))
                small = rng.integers(0, 256, (h // 8, w // 8, 3)).astype(np.int16)  # blocky: JPEG-like sizes
                px = np.clip((small + tint) // 2, 0, 255).astype(np.uint8)
                Image.fromarray(px).resize((w, h)).save(folder / f"{i:05d}.jpg", quality=85)
    return root


def learn(run: Path, data: Path, threads: int, batch_size: int) -> float:
    import edgecl

    started = time.perf_counter()
    edgecl.learn(run, task=1, export=False, threads=threads, dataset="imagefolder", data_root=str(data),
                 model="vit_tiny_patch16_224", weights="none", tasks=2, epochs=1, batch_size=batch_size,
                 augment="none")
    return time.perf_counter() - started


def export_peak(run: Path, formats: list[str], threads: int) -> dict:
    """Export task 1 in a child process; its own peak RSS (VmHWM) in MB."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(run), json.dumps(formats), str(threads)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"export of {run} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", type=int, default=200, help="task-1 test images, small case")
    ap.add_argument("--large", type=int, default=1600, help="task-1 test images, large case")
    ap.add_argument("--train-per-class", type=int, default=256, help="training images per class"
                    " (task 1 has 2 classes: 512 images = a full INT8 calibration set)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workdir", type=Path, default=None, help="keep data and runs here (default: temp)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        rows = []
        for n_test in (args.small, args.large):
            data = work / f"data-{n_test}"
            if not (data / "test").exists():
                make_folder(data, args.train_per_class, n_test)
            run = work / f"run-{n_test}"
            learned = 0.0 if (run / "task-01").exists() else learn(run, data, args.threads, args.batch_size)
            print(f"learned task 1 with {n_test} test images in {learned:.0f} s", flush=True)
            for formats in ([], ["int8"]):
                r = export_peak(run, formats, args.threads)
                rows.append((n_test, "fp32+int8" if formats else "fp32", r))
                print(f"  export {rows[-1][1]:9s}: peak {r['peak_mb']:.0f} MB, {r['seconds']:.0f} s, {r['status']}",
                      flush=True)
        print("\n| test images | formats   | calib imgs | peak RSS MB | seconds |")
        print("|------------:|:----------|-----------:|------------:|--------:|")
        for n_test, fmts, r in rows:
            print(f"| {r['n_test']:11d} | {fmts:9s} | {r['calibration'] or '-':>10} | {r['peak_mb']:11.0f} |"
                  f" {r['seconds']:7.0f} |")
        peak = {(n, f): r["peak_mb"] for n, f, r in rows}
        for fmts in ("fp32", "fp32+int8"):
            d = peak[(args.large, fmts)] - peak[(args.small, fmts)]
            print(f"{fmts}: peak({args.large}) - peak({args.small}) = {d:+.0f} MB (target <= 250)")
        for n in (args.small, args.large):
            d = peak[(n, "fp32+int8")] - peak[(n, "fp32")]
            print(f"{n} test images: INT8 adds {d:+.0f} MB (target < 500)")


if __name__ == "__main__":
    main()
