"""`edgecl export` streams its data.

Every image the export reads goes through ``RunData.eval_batches``; the test wraps it and records
the size of every batch and the rows read per split. It fails if the reference, the gate (levels
2-3), the golden selection or INT8 calibration build an array of a whole test or calibration set:
no batch may exceed ``EXPORT_BATCH`` images, nothing but the golden rows (and, when the INT8 gate
first fails, the fallback's sensitivity sample, capped at ``SENSITIVITY_BYTES``) may be materialised
at once (``BatchSource.take``), and the test images are read only once per pass.
"""
import json

from typer.testing import CliRunner

import edgecl
from edgecl.cli.app import app
from edgecl.data.run_data import RunData
from edgecl.exporters.parity.golden import read_golden
from edgecl.exporters.quantize.fallback import SENSITIVITY_BYTES
from edgecl.exporters.parity.sources import BatchSource
from edgecl.exporting import EXPORT_BATCH

runner = CliRunner()


def test_export_reads_batches_only_and_materialises_only_the_golden_set(tmp_path, tiny_config, monkeypatch):
    run = tmp_path / "run"
    learn = runner.invoke(app, ["learn", "--run", str(run), "--config", str(tiny_config), "--no-export",
                                "--quiet", "--threads", "1"])
    assert learn.exit_code == 0, learn.output

    batches: list[tuple[str, int]] = []
    taken: list[int] = []
    real_eval, real_take = RunData.eval_batches, BatchSource.take

    def eval_batches(self, split, idx, batch_size=256):
        def make():
            for x, y in real_eval(self, split, idx, batch_size):
                batches.append((split, len(x)))
                yield x, y
        return make()

    def take(self, rows):
        taken.append(len(rows))
        return real_take(self, rows)

    monkeypatch.setattr(RunData, "eval_batches", eval_batches)
    monkeypatch.setattr(BatchSource, "take", take)
    manifest = edgecl.export(run, task=1, formats={"int8"})

    assert manifest["formats"]["fp32"]["status"] == "passed"
    assert manifest["formats"]["int8"]["status"] in ("passed", "gate_failed")
    n_test, n_calib = manifest["pytorch"]["n_test"], manifest["formats"]["int8"]["calibration"]["n"]
    n_golden = len(read_golden(run / "task-01" / "export" / "golden.npz")["labels"])
    assert n_test > 4 * EXPORT_BATCH and n_calib > 4 * EXPORT_BATCH  # sets much larger than a batch
    assert max(n for _, n in batches) <= EXPORT_BATCH
    fallback = manifest["formats"]["int8"].get("fallback") or {}
    n_sens = fallback.get("sensitivity_images", 0)  # only when the first INT8 gate failed
    chw = manifest["input"]["shape"][1:]
    assert n_sens * 4 * chw[0] * chw[1] * chw[2] <= SENSITIVITY_BYTES  # a fixed cap, not the set
    # the golden set, then one capped sensitivity sample per calibration method whose search ran
    # (exporters/quantize/methods.py: a method that fails its first gate runs its own fallback)
    tried = manifest["formats"]["int8"]["calibration"]["tried"]
    searches = sum(t["fallback"] for t in tried)
    assert taken == [n_golden] + [n_sens] * searches and n_golden < n_test
    test_rows = sum(n for split, n in batches if split == "test")
    train_rows = sum(n for split, n in batches if split == "train")
    gates = 2 + sum(t["gate_runs"] for t in tried)  # reference, fp32 gate, then each method's gate runs
    assert test_rows == n_golden + gates * n_test  # golden rows first, then one streamed pass per gate
    # each method calibrates on the images once, batch by batch (+ the capped sample of its search)
    assert train_rows == len(tried) * n_calib + searches * n_sens
    on_disk = json.loads((run / "task-01" / "export" / "manifest.json").read_text())
    assert on_disk["pytorch"]["n_test"] == n_test
