"""edgecl-rt CLI: verify record, predict partial results and exit codes, bench, build, serve."""
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from edgecl_runtime.cli import app
from edgecl_runtime.backends.trt.compat import tensorrt_available
from tests.runtime.rt_factory import make_bundle, tamper_same_size
from tests.runtime.rt_cli import error_lines

try:
    runner = CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into stdout by default
except TypeError:
    runner = CliRunner()  # click >= 8.2 always captures stderr separately



def _images(folder):
    folder.mkdir()
    Image.new("L", (28, 28), 200).save(folder / "gray.png")
    Image.fromarray(np.full((30, 40, 3), 50, np.uint8)).save(folder / "rgb.jpg")
    (folder / "zero.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image")
    return folder


def test_verify_passes_and_writes_record(bundle):
    res = runner.invoke(app, ["verify", str(bundle), "--precision", "fp16"])
    assert res.exit_code == 0, res.output
    assert "PASSED" in res.stdout and "top-1 agreement" in res.stdout
    rec = json.loads((bundle / "verification-ort-fp16.json").read_text())
    assert rec["passed"] and rec["files"] == {"checked": 4, "ok": True}
    assert rec["gate"]["levels_checked"] == [1, 2] and rec["thresholds"]["max_abs_diff"] == 5e-2


def test_verify_fails_on_gate(tmp_path):
    b = make_bundle(tmp_path / "b", logit_offset=0.01)  # PyTorch logits drift 1e-2 > 1e-4
    res = runner.invoke(app, ["verify", str(b)])
    assert res.exit_code == 1 and "FAILED: level 1" in res.stdout
    rec = json.loads((b / "verification-ort-fp32.json").read_text())
    assert not rec["passed"] and rec["gate"]["failed_levels"] == [1]


def test_verify_fails_on_altered_file_and_records_it(bundle):
    tamper_same_size(bundle / "model.fp16.onnx")  # same size: only sha256 can tell
    res = runner.invoke(app, ["verify", str(bundle)])
    assert res.exit_code == 1 and "model.fp16.onnx" in res.stdout
    rec = json.loads((bundle / "verification-ort-fp32.json").read_text())
    assert rec["files"]["ok"] is False and "model.fp16.onnx" in rec["reason"]


def test_verify_missing_bundle_is_one_line(tmp_path):
    res = runner.invoke(app, ["verify", str(tmp_path / "nothing")])
    assert res.exit_code == 1 and len(error_lines(res.stderr)) == 1 and "does not exist" in res.stderr


def test_predict_json_partial_results(tmp_path, bundle_template):
    folder = _images(tmp_path / "imgs")
    res = runner.invoke(app, ["predict", str(bundle_template), str(folder),
                              str(tmp_path / "missing.png"), "--json", "--top-k", "2"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    by_name = {r["input"].rsplit("/", 1)[-1]: r for r in out["results"]}
    assert out["task"] == 1 and len(by_name) == 5
    assert len(by_name["gray.png"]["predictions"]) == 2 and "predictions" in by_name["rgb.jpg"]
    assert "empty file" in by_name["zero.png"]["error"]
    assert "not an image" in by_name["text.png"]["error"]
    assert "no such file" in by_name["missing.png"]["error"]
    err_lines = error_lines(res.stderr)
    assert len(err_lines) == 3 and all(l.startswith("edgecl-rt: error: ") for l in err_lines)


def test_predict_table_and_all_bad_exit_code(tmp_path, bundle_template):
    folder = _images(tmp_path / "imgs")
    res = runner.invoke(app, ["predict", str(bundle_template), str(folder / "gray.png")])
    assert res.exit_code == 0 and "t1c" in res.stdout
    res = runner.invoke(app, ["predict", str(bundle_template), str(folder / "zero.png"),
                              str(folder / "text.png"), "--json"])
    assert res.exit_code == 1 and "no image could be classified" in res.stderr
    assert len(json.loads(res.stdout)["results"]) == 2


def test_predict_invalid_bundle(tmp_path, bundle):
    (bundle / "golden.npz").unlink()
    Image.new("L", (28, 28)).save(tmp_path / "a.png")
    res = runner.invoke(app, ["predict", str(bundle), str(tmp_path / "a.png")])
    assert res.exit_code == 1 and "golden.npz is missing" in res.stderr


def test_bench_output(bundle):  # a fresh bundle: bench writes its record beside the manifest
    res = runner.invoke(app, ["bench", str(bundle), "--batch", "2", "--iters", "5",
                              "--warmup", "1", "--precision", "int8"])
    assert res.exit_code == 0, res.output
    for word in ("p50 ms", "p95 ms", "p99 ms", "throughput img/s", "onnxruntime", "int8",
                 "ort", "CPU"):
        assert word in res.stdout


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT present")
def test_build_without_tensorrt(bundle):
    res = runner.invoke(app, ["build", str(bundle), "--fp16"])
    assert res.exit_code == 1 and "comes with JetPack" in res.stderr
    assert "edgecl-rt build BUNDLE" in res.stderr and not list(bundle.glob("*.plan*"))
    res = runner.invoke(app, ["build", str(bundle), "--fp16", "--int8"])
    assert res.exit_code == 2 and "exclusive" in res.stderr


def test_trt_backend_without_engine_is_clear(bundle_template):
    res = runner.invoke(app, ["bench", str(bundle_template), "--backend", "trt"])
    assert res.exit_code == 1 and "edgecl-rt build" in res.stderr


def test_serve_protocol(tmp_path):
    run = tmp_path / "run"
    make_bundle(run / "task-01" / "export")
    Image.new("L", (28, 28), 7).save(tmp_path / "a.png")
    (tmp_path / "bad.png").write_text("x")
    lines = [json.dumps({"id": 1, "image": str(tmp_path / "a.png"), "top_k": 1}),
             json.dumps({"id": "b", "images": [str(tmp_path / "a.png"), str(tmp_path / "bad.png")]}),
             json.dumps({"id": 3, "image": str(tmp_path / "bad.png")}),
             "{oops", json.dumps({"id": 5}), json.dumps({"id": 6, "cmd": "status"})]
    res = runner.invoke(app, ["serve", str(run), "--allow", str(tmp_path)], input="\n".join(lines) + "\n")
    assert res.exit_code == 0, res.output
    out = [json.loads(l) for l in res.stdout.splitlines()]
    assert [r["id"] for r in out] == [1, "b", 3, None, 5, 6]
    assert out[0]["task"] == 1 and len(out[0]["predictions"]) == 1
    assert out[1]["predictions"][1] is None and "not an image" in out[1]["errors"][1]
    assert "not an image" in out[2]["error"] and "not valid JSON" in out[3]["error"]
    assert "needs 'image'" in out[4]["error"] and out[5]["classes"][0] == "t1c0"
    assert "serving task 1" in res.stderr


def test_serve_without_good_bundle(tmp_path):
    b = make_bundle(tmp_path / "run" / "task-01" / "export")
    (b / "model.onnx").write_bytes(b"broken")
    res = runner.invoke(app, ["serve", str(tmp_path / "run")], input="")
    assert res.exit_code == 1 and "no bundle" in res.stderr and "model.onnx" in res.stderr
