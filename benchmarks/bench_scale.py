"""Learning and exporting an ImageNet-R-shaped stream: where the time goes, and what memory does.

Generates a JPEG class folder shaped like ImageNet-R (default 200 classes in 10 tasks, photos of
300-500 x 350-600 px read at 224 px), then, each in a fresh child process:

1. learns the first ``--learn`` tasks (1 epoch, a small ViT: ``vit_tiny_patch16_224`` with
   ``--depth`` blocks, random weights) once per ``--workers`` count, side by side, and prints per
   task the seconds spent waiting for batches (decoding, augmenting) against the rest (compute),
   the speed-up of each worker count over the first, whether the weights are bit-identical, and
   the learning child's peak RSS;
2. exports the last learned task (FP32 + FP16 + INT8) with the test folder at 1x and at 4x
   ``--test-per-class`` images and prints each export's peak RSS (``VmHWM``): it should not grow
   with the test images beyond the golden set and the logits.

    python benchmarks/bench_scale.py                      # ~10 min on 2 cores
    python benchmarks/bench_scale.py --classes 40 --learn 1 --train-per-class 4   # quick look
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_input import make_folder  # noqa: E402  (the same generated photos as the input benchmark)

LEARN = """
import json, sys, time, torch
import edgecl
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
rows = []
options = dict(dataset="imagefolder", data_root=args["data"], model="vit_tiny_patch16_224",
               model_kwargs={"depth": args["depth"]}, weights="none", tasks=args["tasks"], epochs=1,
               batch_size=args["batch"])
for task in range(1, args["learn"] + 1):
    start = time.perf_counter()
    edgecl.learn(args["run"], task=task, export=False, threads=args["threads"], workers=args["workers"],
                 **(options if task == 1 else {}))  # the run's options are frozen by the first call
    rows.append(time.perf_counter() - start)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(json.dumps({"wall": rows, "peak_mb": int(hwm[0].split()[1]) / 1024 if hwm else None}))
"""

EXPORT = """
import json, sys, time, torch
import edgecl
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
start = time.perf_counter()
man = edgecl.export(args["run"], task=args["task"], formats="fp16,int8,-int8cpu,-trt")  # exactly these: named drops
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(json.dumps({"seconds": time.perf_counter() - start, "n_test": man["pytorch"]["n_test"],
                  "status": {k: v["status"] for k, v in man["formats"].items()},
                  "peak_mb": int(hwm[0].split()[1]) / 1024 if hwm else None}))
"""


def child(code: str, args: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_data(work: Path, classes: int, train: int, test: int) -> tuple[Path, Path]:
    """``data-4x`` (test: 4 x ``test`` per class) and ``data-1x`` (the first ``test`` of each class,
    linked); both link the same training folder."""
    pool, d1, d4 = work / "pool", work / "data-1x", work / "data-4x"
    if not d1.exists():
        make_folder(pool / "train", classes * train, classes=classes, seed=0)
        make_folder(pool / "test", classes * test * 4, classes=classes, seed=1)
        for d in (d1, d4):
            d.mkdir()
            (d / "train").symlink_to(pool / "train")
        (d4 / "test").symlink_to(pool / "test")
        for cls in sorted((pool / "test").iterdir()):
            (d1 / "test" / cls.name).mkdir(parents=True)
            for f in sorted(cls.iterdir())[:test]:
                (d1 / "test" / cls.name / f.name).symlink_to(f)
    return d1, d4


def task_seconds(run: Path, task: int) -> dict:
    s = json.loads((run / f"task-{task:02d}" / "metrics.json").read_text())["seconds"]
    total = sum(v for k, v in s.items() if k != "data_wait")
    return {"total": total, "wait": s.get("data_wait", 0.0), "compute": total - s.get("data_wait", 0.0)}


def digest(run: Path, tasks: int) -> str:
    h = hashlib.sha256()
    for t in range(1, tasks + 1):
        h.update((run / f"task-{t:02d}" / "weights.safetensors").read_bytes())
    return h.hexdigest()[:12]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=200)
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--learn", type=int, default=2, help="tasks learned (each a fresh `edgecl learn --task N`)")
    ap.add_argument("--train-per-class", type=int, default=12)
    ap.add_argument("--test-per-class", type=int, default=2, help="the 1x test set; 4x is four times this")
    ap.add_argument("--workers", default="0,2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workdir", type=Path, default=None, help="keep data and runs here (default: temp)")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        d1, d4 = make_data(work, args.classes, args.train_per_class, args.test_per_class)
        print(f"data: {args.classes} classes, {args.train_per_class} train + {args.test_per_class} (1x) / "
              f"{4 * args.test_per_class} (4x) test images per class ({time.perf_counter() - started:.0f} s)")
        common = {"learn": args.learn, "threads": args.threads, "depth": args.depth, "tasks": args.tasks,
                  "batch": args.batch}
        learned = {}
        for w in workers:
            run = work / f"run-w{w}"
            if not run.exists():
                learned[w] = child(LEARN, {**common, "run": str(run), "data": str(d1), "workers": w})
            learned[w] = {**learned.get(w, {}), "tasks": [task_seconds(run, t) for t in range(1, args.learn + 1)],
                          "digest": digest(run, args.learn)}
        print("\n| workers | task | total s | waiting for data s | compute s | speed-up vs first |")
        print("|---:|---:|---:|---:|---:|---:|")
        first = learned[workers[0]]["tasks"]
        for w in workers:
            for t, row in enumerate(learned[w]["tasks"], 1):
                print(f"| {w} | {t} | {row['total']:.1f} | {row['wait']:.1f} | {row['compute']:.1f} |"
                      f" {first[t - 1]['total'] / row['total']:.2f}x |")
        for w in workers:
            total = sum(r["total"] for r in learned[w]["tasks"])
            print(f"workers {w}: {total:.1f} s for {args.learn} task(s), {sum(first_r['total'] for first_r in first) / total:.2f}x;"
                  f" weights {learned[w]['digest']}; learning peak RSS {learned[w].get('peak_mb') or 0:.0f} MB")
        same = len({learned[w]["digest"] for w in workers}) == 1
        print(f"weights bit-identical across workers {workers}: {same}")

        run4 = work / "run-4x"
        if not run4.exists():
            child(LEARN, {**common, "run": str(run4), "data": str(d4), "workers": max(workers)})
        exports = {"1x": child(EXPORT, {"run": str(work / f"run-w{workers[0]}"), "task": args.learn,
                                        "threads": args.threads}),
                   "4x": child(EXPORT, {"run": str(run4), "task": args.learn, "threads": args.threads})}
        print("\n| test set | test images | export s | peak RSS MB | gates |")
        print("|---|---:|---:|---:|---|")
        for k, r in exports.items():
            print(f"| {k} | {r['n_test']} | {r['seconds']:.0f} | {r['peak_mb']:.0f} | {r['status']} |")
        print(f"export peak RSS 4x - 1x: {exports['4x']['peak_mb'] - exports['1x']['peak_mb']:+.0f} MB")


if __name__ == "__main__":
    main()
