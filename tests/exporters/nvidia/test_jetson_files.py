"""DeepStream configs + labels, self-describing ONNX, Polygraphy golden data.

One small bundle (tiny ViT, fp32 + fp16 + int8) is exported once; Polygraphy itself (installed with
the ``test`` extra) checks it from the command line, and fails once an expected output is altered.
"""
from __future__ import annotations

import base64
import configparser
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.exporters.conftest import export_setup
from edgecl.exporters.nvidia.deepstream import config_text, labels_text, nvinfer_predictions
from edgecl.exporters.onnx.export import OUTPUT_NAME
from edgecl.exporters.onnx.metadata import read_metadata
from edgecl.exporters.parity.ort_session import onnx_logits
from edgecl.exporters.nvidia.polygraphy import INPUTS_NAME, OUTPUTS_NAME
from edgecl.exporters.parity.reference import torch_logits
from edgecl_runtime.atomic_io import sha256_file
from edgecl_runtime.bundle import load_bundle

PRECISIONS = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}


@pytest.fixture(scope="module")
def bundle(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("jetson") / "export"
    return out, export_setup(setup, out, formats={"fp16", "int8"})


def _ini(path):
    parser = configparser.ConfigParser(comment_prefixes=("#",), interpolation=None)
    parser.read_string(path.read_text())
    return parser["property"]


def test_every_onnx_carries_its_metadata_and_task_as_model_version(bundle, setup):
    out, man = bundle
    import onnx

    for precision, name in PRECISIONS.items():
        meta = read_metadata(out / name)
        assert json.loads(meta["edgecl.classes"]) == setup.classes
        assert meta["edgecl.task"] == "2" and meta["edgecl.run"] == "r" and meta["edgecl.precision"] == precision
        assert json.loads(meta["edgecl.input_spec"]) == setup.spec
        assert meta["edgecl.version"]
        assert onnx.load(str(out / name), load_external_data=False).model_version == 2
        assert man["files"][name]["sha256"] == sha256_file(out / name)  # hashed after stamping
    load_bundle(out)  # every listed file, sub-folders included, still verifies


def test_deepstream_config_per_precision_matches_the_model(bundle, setup):
    out, man = bundle
    modes = {"fp32": "0", "int8": "1", "fp16": "2"}
    assert man["deepstream"]["configs"] == {p: f"deepstream/config_infer_{p}.txt" for p in PRECISIONS}
    for precision, name in PRECISIONS.items():
        cfg_path = out / man["deepstream"]["configs"][precision]
        cfg = _ini(cfg_path)
        if precision == "int8":  # nvinfer cannot build Q/DQ without a calibrator: the device-built plan
            assert cfg["model-engine-file"] == "../model.int8.plan" and "onnx-file" not in cfg
        else:
            assert (cfg_path.parent / cfg["onnx-file"]).resolve() == (out / name).resolve()
            assert cfg["model-engine-file"] == f"../{name}_b1_gpu0_{precision}.engine"
        assert (cfg_path.parent / cfg["labelfile-path"]).resolve() == (out / "labels.txt").resolve()
        assert cfg["network-type"] == "1" and cfg["network-mode"] == modes[precision]
        assert float(cfg["net-scale-factor"]) == pytest.approx(1 / 255, rel=1e-12)
        assert cfg["offsets"] == "0" and cfg["model-color-format"] == "2"  # GRAY, one offset
        assert cfg["infer-dims"] == "1;28;28" and cfg["batch-size"] == "1"
        assert cfg["output-blob-names"] == OUTPUT_NAME and float(cfg["classifier-threshold"]) == 0.0
        assert cfg["process-mode"] == "1" and "#   process-mode=2" in cfg_path.read_text()
        assert cfg_path.name in {n.split("/")[-1] for n in man["files"]}
    assert (out / "labels.txt").read_text() == ";".join(setup.classes) + "\n"


def test_rgb_spec_gives_rgb_colour_format_and_three_offsets():
    spec = {"color": "RGB", "crop": 224}
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(config_text(precision="fp16", onnx_file="model.fp16.onnx", input_spec=spec, run="r", task=1))
    assert cfg["property"]["model-color-format"] == "0" and cfg["property"]["offsets"] == "0;0;0"
    assert cfg["property"]["infer-dims"] == "3;224;224"
    with pytest.raises(ValueError, match="network-mode"):
        config_text(precision="bf16", onnx_file="m.onnx", input_spec=spec, run="r", task=1)


def test_labels_are_one_line_and_separators_inside_names_are_replaced():
    assert labels_text(["cat", "a;b", "two\nlines"]) == "cat;a,b;two lines\n"


def test_deepstream_accuracy_is_measured_and_its_change_recorded(bundle, setup):
    out, man = bundle
    ds = man["deepstream"]
    x = np.concatenate([t[0] for t in setup.test_sets])
    y = np.concatenate([t[1] for t in setup.test_sets])
    pred = nvinfer_predictions(torch_logits(setup.model, x))  # the reference: the gate ties the ONNX to it
    assert ds["accuracy_pct"] == pytest.approx(100 * np.mean(pred == y))
    assert np.array_equal(nvinfer_predictions(onnx_logits(out / "model.onnx", x)), pred)
    assert ds["accuracy_delta_pp"] == pytest.approx(ds["accuracy_pct"] - man["pytorch"]["accuracy"], abs=1e-3)
    assert len(ds["per_task_accuracy_pct"]) == len(setup.test_sets) and ds["n_test"] == len(y)
    assert "evaluation preprocessing" in ds["preprocessing"]  # resize null: nvinfer's way already


def test_nvinfer_leaves_objects_unlabelled_at_or_below_the_threshold():
    logits = np.array([[2.0, 1.0], [-0.5, -1.0], [0.0, 0.0]], np.float32)
    assert nvinfer_predictions(logits).tolist() == [0, -1, -1]


def test_resize_spec_uses_the_given_nvinfer_sets_or_records_not_measured(setup, tmp_path):
    spec = {**setup.spec, "resize": 32}
    kept = [(x[:, :, ::-1].copy(), y) for x, y in setup.test_sets]  # any other view of the same images
    man = export_setup(setup, tmp_path / "a", input_spec=spec, calib=None, deepstream_sets=kept)
    assert "plain resize" in man["deepstream"]["preprocessing"]
    assert man["deepstream"]["accuracy_pct"] is not None
    man = export_setup(setup, tmp_path / "b", input_spec=spec, calib=None)
    assert man["deepstream"]["accuracy_pct"] is None and man["deepstream"]["accuracy_delta_pp"] is None


def _polygraphy(bundle_dir, model="model.onnx", atol="1e-4"):
    exe = shutil.which("polygraphy") or str(__import__("pathlib").Path(sys.executable).parent / "polygraphy")
    cmd = [exe, "run", model, "--onnxrt", "--load-inputs", INPUTS_NAME, "--load-outputs", OUTPUTS_NAME,
           "--atol", atol, "--rtol", "0"]
    return subprocess.run(cmd, cwd=bundle_dir, capture_output=True, text=True, timeout=300)


def test_polygraphy_checks_the_bundle_with_nvidias_tool(bundle):
    out, man = bundle
    assert man["polygraphy"]["command"] == ("polygraphy run model.onnx --onnxrt --load-inputs polygraphy/inputs.json"
                                           " --load-outputs polygraphy/outputs.json --atol 1e-4 --rtol 0")
    done = _polygraphy(out)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "PASSED" in done.stdout + done.stderr


def test_polygraphy_fails_on_a_tampered_expected_output(bundle, tmp_path):
    out, _ = bundle
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    doc = json.loads((copy / OUTPUTS_NAME).read_text())
    enc = doc["lst"][0][1][0]["outputs"][OUTPUT_NAME]["values"]
    arr = np.load(io.BytesIO(base64.b64decode(enc["array"])), allow_pickle=False)
    arr[0, 0] += 0.01
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    enc["array"] = base64.b64encode(buf.getvalue()).decode()
    (copy / OUTPUTS_NAME).write_text(json.dumps(doc))
    done = _polygraphy(copy)
    assert done.returncode != 0
    assert "FAILED" in done.stdout + done.stderr


def test_int8_config_loads_the_device_built_plan_and_never_builds_qdq_as_fp16(bundle, tmp_path):
    """nvinfer without int8-calib-file builds with the FP16 flag only, which a Q/DQ network cannot."""
    from tests.exporters.nvidia.fake_nvinfer import start

    out, man = bundle
    copy = tmp_path / "b"
    shutil.copytree(out, copy)
    cfg_path = copy / man["deepstream"]["configs"]["int8"]
    first = cfg_path.read_text().splitlines()[0]
    assert first.startswith("# FIRST, on this device: edgecl-rt build BUNDLE --int8 --save-engine BUNDLE/model.int8.plan")
    cfg = _ini(cfg_path)
    assert cfg["model-engine-file"] == "../model.int8.plan" and "onnx-file" not in cfg
    res = start(cfg_path)  # before `edgecl-rt build`: one clear line, no FP16 attempt
    assert not res["ok"] and "no model file matched" in res["log"][-1]
    assert not any("Trying FP16 mode" in line for line in res["log"])
    (copy / "model.int8.plan").write_bytes(b"plan")  # what `build --int8 --save-engine` leaves there
    res = start(cfg_path)
    assert res["ok"] and res["engine"] == (copy / "model.int8.plan").resolve()
    for precision in ("fp32", "fp16"):  # these nvinfer builds itself, and saves under the config's name
        res = start(copy / man["deepstream"]["configs"][precision])
        assert res["ok"] and res["engine"] == (cfg_path.parent / _ini(cfg_path.parent / f"config_infer_{precision}.txt")
                                                ["model-engine-file"]).resolve()


def test_every_config_scales_bilinear_on_the_gpu_and_the_manifest_has_both_filters(bundle):
    out, man = bundle
    for precision in PRECISIONS:
        cfg = _ini(out / man["deepstream"]["configs"][precision])
        assert cfg["scaling-filter"] == "1" and cfg["scaling-compute-hw"] == "1"
    ds = man["deepstream"]
    assert ds["nearest_accuracy_pct"] is not None and "nearest_accuracy_delta_pp" in ds


def test_nvinfer_scaling_is_bilinear_without_antialias_and_nearest():
    from PIL import Image

    from edgecl.exporters.nvidia.nvinfer_scale import nvinfer_input, scale

    img = np.zeros((4, 4), np.uint8)
    img[:, 2:] = 200
    assert scale(img, 2, "bilinear").tolist() == [[0.0, 200.0], [0.0, 200.0]]  # 2 taps only, no averaging
    assert scale(np.arange(16, dtype=np.uint8).reshape(4, 4), 2, "nearest").tolist() == [[5.0, 7.0], [13.0, 15.0]]
    up = scale(np.array([[0, 100]], np.uint8), 4, "bilinear")
    assert up[0].tolist() == [0.0, 25.0, 75.0, 100.0]  # half-pixel centres, edges clamped
    # 8x shrink: samples fall between columns 8i+3 and 8i+4, both bright; 6 of each 8 columns are dark
    stripes = np.tile(np.array([0, 0, 0, 255, 255, 0, 0, 0], np.uint8), (64, 8))
    ours = nvinfer_input(stripes, 8)
    pil = np.asarray(Image.fromarray(stripes).resize((8, 8), Image.BILINEAR), np.float32) / 255
    assert float(ours.min()) == 1.0 and float(pil.max()) < 0.5  # nvinfer samples 2 taps, PIL averages
    assert nvinfer_input(np.zeros((5, 7, 3), np.uint8), 3).shape == (3, 3, 3)
