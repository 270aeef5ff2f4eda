"""INT8 files in an over-the-air update: ``model.int8.onnx`` (Q/DQ) and ``model.int8cpu.onnx`` travel
as patches against the base's same file; their re-quantised K/V weights are not shipped but derived
on the device from the rebuilt qkv weights and the shipped scales, and the rebuilt bundle is the full
export byte for byte, gated exactly when the export's gate passed each format."""
import shutil

import pytest
from typer.testing import CliRunner

import edgecl
from edgecl_runtime.atomic_io import read_json, sha256_file
from edgecl_runtime.cli import app as rt_app
from edgecl_runtime.bundle.verify import verify_bundle

rt = CliRunner()
FORMATS = {"fp16", "int8", "int8cpu"}
INT8_FILES = ("model.int8.onnx", "model.int8cpu.onnx")


@pytest.fixture(scope="module")
def int8_update(tiny_run, tmp_path_factory):
    """(run, target manifest): tasks 1 and 2 exported with every format, the update from 1 to 2."""
    run = shutil.copytree(tiny_run, tmp_path_factory.mktemp("int8") / "run")  # shared run stays as it is
    # the library records a failed gate instead of raising: this tiny 1-epoch model's margins are thin
    edgecl.export(run, task=1, formats=FORMATS)
    return run, edgecl.export(run, task=2, formats=FORMATS, update_from=1)


def test_int8_weights_travel_as_scales_not_bytes(int8_update):
    run, _ = int8_update
    folder = run / "task-02" / "update-from-01"
    update = read_json(folder / "update.json")
    blocks = len(update["qkv_source"])
    for name in INT8_FILES:
        spec = update["onnx"][name]
        assert spec["whole"] is False and "initializer" in spec["lists"], spec
        derived = [f for f in spec["fills"] if f["from"] == "qkv" and f["dtype"] == "int8"]
        assert sorted(f["block"] for f in derived) == list(range(blocks))  # every block's weight derived
        shipped, full = (folder / spec["file"]).stat().st_size, (run / "task-02" / "export" / name).stat().st_size
        assert shipped < 0.10 * full, (name, shipped, full)


def test_device_rebuilds_every_int8_file_byte_for_byte_and_gates_it(int8_update, tmp_path):
    run, manifest = int8_update
    new = tmp_path / "NEW"
    result = rt.invoke(rt_app, ["update", str(run / "task-01" / "export"), str(run / "task-02" / "update-from-01"),
                                "--out", str(new)])
    assert result.exit_code == 0, result.output
    full = run / "task-02" / "export"
    for name in ("model.onnx", "model.fp16.onnx", *INT8_FILES):
        assert sha256_file(new / name) == sha256_file(full / name), name
    for precision in ("int8", "int8cpu"):
        status = manifest["formats"][precision]["status"]
        assert status in ("passed", "gate_failed")
        assert (f"{precision} passed" in result.output) == (status == "passed"), result.output
        if status == "passed":
            rec = verify_bundle(new, "ort", precision, write=False)
            assert rec["passed"], rec["reason"]
