"""Over-the-air update sizes and what a device does with them, for every update of a run.

    python benchmarks/bench_update.py --run models/default             # the updates learn wrote
    python benchmarks/bench_update.py --run models/default --export-time  # + time a full export of the last task

For every ``RUN/task-NN/update-from-MM`` (``edgecl learn`` writes one per task by default): bytes
shipped per ONNX file against that file, the whole update against the whole bundle (as update.json
lists the files), then ``apply_update`` into a temporary folder (rebuild, sha256 proof of every file,
the golden gate of every format the export's gate passed) and a byte comparison of every rebuilt ONNX
file with the full export's. ``--export-time`` re-exports the last task (gates included) into the
run to compare the time a device spends applying the update with the time a full export takes.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from edgecl.run.run import open_run
from edgecl.updating import update_breakdown
from edgecl_runtime.update.apply import apply_update

ORDER = ("model.onnx", "model.fp16.onnx", "model.int8.onnx", "model.int8cpu.onnx")


def _apply(run, folder: Path, base_task: int) -> tuple[dict, bool]:
    """(apply_update's report, every rebuilt ONNX file equal to the full export's)."""
    full = folder.parent / "export"
    with tempfile.TemporaryDirectory() as tmp:
        report = apply_update(run.store.task_dir(base_task) / "export", folder, Path(tmp) / "NEW")
        same = all((Path(tmp) / "NEW" / p.name).read_bytes() == p.read_bytes() for p in full.glob("*.onnx"))
    return report, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="models/default")
    parser.add_argument("--export-time", action="store_true", help="time a full export of the last task too")
    args = parser.parse_args()
    run = open_run(args.run)
    folders = sorted(run.root.glob("task-*/update-from-*"))
    if not folders:
        raise SystemExit(f"{run.root} has no updates: learn with --updates or `edgecl export --update-from`")
    breakdowns = {f: update_breakdown(f) for f in folders}
    names = [n for n in ORDER if any(n in b["onnx"] for b in breakdowns.values())]
    print(f"run {run.root}: {len(folders)} updates\n")
    print("| update | " + " | ".join(f"{n} (update / file)" for n in names) +
          " | whole update / bundle | applied in | rebuilt byte for byte | gates passed |")
    print("|---|" + "---:|" * (len(names) + 2) + "---|---|")
    applied = []
    for folder in folders:
        b = breakdowns[folder]
        task = int(folder.parent.name.split("-")[1])
        cells = [f"{b['onnx'][n]['bytes']:,} / {b['onnx'][n]['file_bytes']:,} = "
                 f"{100 * b['onnx'][n]['bytes'] / b['onnx'][n]['file_bytes']:.2f} %" if n in b["onnx"] else "-"
                 for n in names]
        report, same = _apply(run, folder, b["base_task"])
        applied.append(report["seconds"])
        print(f"| {task} from {b['base_task']} | " + " | ".join(cells) +
              f" | {b['bytes']:,} / {b['bundle_bytes']:,} = {100 * b['bytes'] / b['bundle_bytes']:.2f} % | "
              f"{report['seconds']:.2f} s | {'yes' if same else 'NO'} | {', '.join(report['gates'])} |")
    if args.export_time:
        from edgecl.exporting import export_run_task
        last = int(folders[-1].parent.name.split("-")[1])
        started = time.perf_counter()
        export_run_task(run, last, set(run.config.export_formats))
        export_s = time.perf_counter() - started
        print(f"\nfull export of task {last} (every format, gates): {export_s:.1f} s; applying its update: "
              f"{applied[-1]:.2f} s = {100 * applied[-1] / export_s:.1f} % of it")


if __name__ == "__main__":
    main()
