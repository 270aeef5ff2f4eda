"""The CPU INT8 file in an over-the-air update: ``model.int8cpu.onnx`` travels like every ONNX file (a
skeleton whose unchanged initializers come from the base bundle's same file; the re-quantised weights
inline), the device rebuilds the bundle byte for byte and gates int8cpu exactly when the export's gate
passed it, as for every other format."""
import shutil

from typer.testing import CliRunner

import edgecl
from edgecl_runtime.atomic_io import read_json, sha256_file
from edgecl_runtime.cli import app as rt_app
from edgecl_runtime.bundle.verify import verify_bundle

rt = CliRunner()


def test_update_carries_int8cpu_and_the_device_gates_it(tiny_run, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")  # the shared run's bundles stay as they are
    # the library records a failed gate instead of raising: this tiny 1-epoch model's margins are thin
    edgecl.export(run, task=1, formats={"fp16", "int8cpu"})
    manifest = edgecl.export(run, task=2, formats={"fp16", "int8cpu"}, update_from=1)
    full = run / "task-02" / "export"
    status = manifest["formats"]["int8cpu"]["status"]
    assert status in ("passed", "gate_failed") and "model.int8cpu.onnx" in manifest["files"]
    update = read_json(run / "task-02" / "update-from-01" / "update.json")
    assert update["onnx"]["model.int8cpu.onnx"]["whole"] is False  # the base has the file: a skeleton
    assert not update["onnx"]["model.onnx"]["whole"]  # FP32 still a skeleton
    new = tmp_path / "NEW"
    result = rt.invoke(rt_app, ["update", str(run / "task-01" / "export"), str(run / "task-02" / "update-from-01"),
                                "--out", str(new)])
    assert result.exit_code == 0, result.output
    assert ("int8cpu passed" in result.output) == (status == "passed"), result.output
    for name in ("model.onnx", "model.fp16.onnx", "model.int8cpu.onnx"):
        assert sha256_file(new / name) == sha256_file(full / name)
    if status == "passed":
        rec = verify_bundle(new, "ort", "int8cpu", write=False)
        assert rec["passed"], rec["reason"]
