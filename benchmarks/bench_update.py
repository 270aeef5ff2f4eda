"""Over-the-air update benchmark: update bytes against full-bundle bytes per format,
and the time to apply an update on this CPU against the time to export the full bundle.

    python benchmarks/bench_update.py --run models/default            # task 5 from task 4
    python benchmarks/bench_update.py --run RUN --task 3 --from 1      # any finished pair

The run must have been learned by an edgecl that keeps ``branch.safetensors``. Steps, one after the
other on the same machine: (1) ``export_run_task`` of task N with FP16 + INT8 (full export, gates
included: the time a full bundle costs), (2) ``export_run_update`` from task M (written into the run
as ``task-NN/update-from-MM``), (3) ``apply_update`` into a temporary folder (rebuild, sha256 proof,
FP32/FP16/INT8 golden gates: the time a device spends), and checks that the rebuilt model.onnx has
the full export's sha256. Bytes: every file of the folder; "shared" rows are what an update carries
whatever the formats (factors, golden rows, manifest, small bundle files).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from edgecl.exporting import export_run_task
from edgecl.run.run import open_run
from edgecl.updating import export_run_update, update_folder
from edgecl_runtime.atomic_io import sha256_file
from edgecl_runtime.update.apply import apply_update

FORMATS = {"fp16", "int8"}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def rows(full: Path, update: Path) -> list[tuple[str, int, int]]:
    """(what, bytes in the full bundle, bytes in the update)."""
    out = []
    onnx_full = onnx_update = 0
    for path in sorted(full.glob("model*.onnx")):
        shipped = update / "onnx" / path.name
        out.append((path.name, path.stat().st_size, shipped.stat().st_size))
        onnx_full += path.stat().st_size
        onnx_update += shipped.stat().st_size
    out.append(("everything else (golden, factors, manifests, configs)", folder_bytes(full) - onnx_full,
                folder_bytes(update) - onnx_update))
    out.append(("**total**", folder_bytes(full), folder_bytes(update)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="models/default")
    parser.add_argument("--task", type=int, default=None, help="target task (default: the latest)")
    parser.add_argument("--from", dest="base", type=int, default=None, help="base task (default: N-1)")
    args = parser.parse_args()
    run = open_run(args.run)
    task = args.task or run.finished_tasks()[-1]
    base = args.base or task - 1
    started = time.perf_counter()
    export_run_task(run, task, FORMATS)
    export_s = time.perf_counter() - started
    started = time.perf_counter()
    export_run_update(run, task, base)
    update_s = time.perf_counter() - started
    full, update = run.store.task_dir(task) / "export", update_folder(run, task, base)
    with tempfile.TemporaryDirectory() as tmp:
        report = apply_update(run.store.task_dir(base) / "export", update, Path(tmp) / "NEW")
        same = sha256_file(Path(tmp) / "NEW" / "model.onnx") == sha256_file(full / "model.onnx")
    print(f"run {run.root}, task {task} from task {base}; formats fp32 + {' + '.join(sorted(FORMATS))}\n")
    print("| file | full bundle bytes | update bytes | update / full |")
    print("|---|---:|---:|---:|")
    for what, a, b in rows(full, update):
        print(f"| {what} | {a:,} | {b:,} | {100 * b / max(a, 1):.1f} % |")
    print(f"\nshipped whole: {', '.join(report['whole']) or 'none'}; rebuilt from skeletons: "
          f"{', '.join(report['skeletons'])}")
    print(f"full export (fp32+fp16+int8, gates): {export_s:.1f} s; writing the update: {update_s:.1f} s; "
          f"applying it (rebuild + sha256 + {len(report['gates'])} golden gates): {report['seconds']:.2f} s "
          f"= {100 * report['seconds'] / export_s:.1f} % of the export")
    print(f"rebuilt model.onnx sha256 == full export's: {same}")


if __name__ == "__main__":
    main()
