"""Export bundle: gates pass on a correct export and fail on a broken one, manifest, atomicity."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgecl.exporters import bundle as bmod
from edgecl.exporters import formats as fmod
from edgecl.exporters.nvidia import tensorrt as trt_row
from edgecl_runtime.atomic_io import sha256_file
from edgecl.exporters.bundle import failed_formats
from tests.exporters.conftest import export_setup
from edgecl.exporters.parity.golden import read_golden
from edgecl_runtime.bundle import load_bundle


@pytest.fixture(scope="module")
def full(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "export"
    return out, export_setup(setup, out, formats={"fp16", "int8", "trt"})


def test_correct_export_passes_every_onnx_gate(full):
    _, man = full
    for fmt in ("fp32", "fp16", "int8"):
        entry = man["formats"][fmt]
        assert entry["status"] == "passed", (fmt, entry)
        assert entry["gate"]["passed"] and entry["gate"]["failed_levels"] == []
        assert entry["gate"]["levels_checked"] == [1, 2, 3]
    assert man["formats"]["fp32"]["gate"]["max_abs_diff"] <= 1e-4
    assert man["formats"]["fp32"]["gate"]["top1_agreement"] == 1.0


def test_trt_without_tensorrt_is_export_failed_with_hint(full):
    out, man = full
    trt = man["formats"]["trt_fp16"]
    assert trt["status"] == "export_failed" and trt["file"] is None
    assert "edgecl-rt build BUNDLE" in trt["error"] and "\n" not in trt["error"]
    assert failed_formats(man) == ["trt_fp16"]
    assert not list(out.glob("*.engine"))


def test_manifest_files_and_fields(full, setup):
    out, man = full
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == man
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    jetson = ["labels.txt", "polygraphy/inputs.json", "polygraphy/outputs.json"]
    jetson += [f"deepstream/config_infer_{p}.txt" for p in ("fp32", "fp16", "int8")]
    assert names == sorted(["manifest.json", "golden.npz", "model.onnx", "model.fp16.onnx", "model.int8.onnx",
                            *jetson])
    assert sorted(man["files"]) == [n for n in names if n != "manifest.json"]
    for name, entry in man["files"].items():
        assert entry["sha256"] == sha256_file(out / name)
        assert entry["bytes"] == (out / name).stat().st_size
    assert man["manifest_version"] == 1 and man["run"] == "r" and man["task"] == 2
    assert man["classes"] == setup.classes and man["output"] == {"name": "logits", "shape": [-1, 4]}
    assert man["input"] == setup.spec and man["opset"] == 17 and man["exporter"] == "torchscript"
    assert man["pytorch"]["n_test"] == sum(len(y) for _, y in setup.test_sets)
    assert set(man["versions"]) >= {"torch", "timm", "onnx", "onnxruntime", "edgecl"}
    assert set(man["thresholds"]) == {"fp32", "fp16", "int8", "int8cpu"}  # the contract's whole table
    loaded = load_bundle(out)  # the device side accepts it (sha256 of every file checked)
    assert np.array_equal(loaded.golden["inputs"], setup.golden[0])


def _perturb_head(path):
    m = onnx.load(str(path))
    head = [t for t in m.graph.initializer if "head" in t.name and "bias" in t.name][0]
    bias = numpy_helper.to_array(head).copy()
    bias[0] += 5.0  # class 0 now wins almost everywhere
    head.CopyFrom(numpy_helper.from_array(bias, head.name))
    onnx.save(m, str(path))


def test_broken_export_fails_the_gate_and_names_the_levels(setup, tmp_path, monkeypatch):
    real = bmod.export_onnx

    def broken(model, path, **kwargs):
        real(model, path, **kwargs)
        _perturb_head(path)
        return path

    monkeypatch.setattr(bmod, "export_onnx", broken)
    man = export_setup(setup, tmp_path / "export", formats=set())
    gate = man["formats"]["fp32"]["gate"]
    assert man["formats"]["fp32"]["status"] == "gate_failed" and not gate["passed"]
    assert 1 in gate["failed_levels"] and 2 in gate["failed_levels"]
    assert "level 1" in gate["reason"] and "level 2" in gate["reason"]
    assert failed_formats(man) == ["fp32"]


def test_failing_optional_format_is_recorded_not_shipped(setup, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("calibrator exploded\nsecond line")

    monkeypatch.setattr(fmod, "quantize_int8", boom)
    man = export_setup(setup, tmp_path / "export", formats={"int8"})
    entry = man["formats"]["int8"]
    assert entry["status"] == "export_failed" and "calibrator exploded" in entry["error"]
    assert "\n" not in entry["error"] and not (tmp_path / "export" / "model.int8.onnx").exists()
    assert "model.int8.onnx" not in man["files"] and failed_formats(man) == ["int8"]


@pytest.mark.parametrize("step", ["write_golden", "build_manifest"])
def test_failure_mid_export_leaves_old_bundle_untouched(setup, tmp_path, monkeypatch, step):
    out = tmp_path / "export"
    out.mkdir()
    (out / "manifest.json").write_text("old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bmod, step, boom)
    with pytest.raises(OSError, match="disk full"):
        export_setup(setup, out, formats={"fp16"})
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no staging or backup dirs left
    assert [p.name for p in out.iterdir()] == ["manifest.json"] and (out / "manifest.json").read_text() == "old"


def test_new_bundle_replaces_old_one(setup, tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / "stale.onnx").write_text("x")
    export_setup(setup, out, formats=set(), golden=None)  # None: golden set drawn from the test sets
    assert not (out / "stale.onnx").exists() and (out / "model.onnx").exists()
    golden = read_golden(out / "golden.npz")
    assert sorted(set(golden["task_ids"].tolist())) == [1, 2] and len(golden["labels"]) > 0
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_bad_arguments(setup, tmp_path):
    x, y, t = setup.golden
    cases = [
        (dict(formats={"tflite"}), "unknown export format"),
        (dict(formats={"int8"}, calib=None), "calibration images"),
        (dict(golden=(x * 255, y, t)), r"\[0, 1\]"),
        (dict(test_sets=[(x[:, :, :14], y)]), "per the input spec"),
        (dict(classes=["a", "b"]), "model has 4 outputs"),
        (dict(thresholds={"fp32": {"max_abs": 1}}), "unknown gate threshold"),
        (dict(formats={"int8"}, int8_options={"calibration": "x"}), "unknown int8 option"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            export_setup(setup, tmp_path / "export", **kwargs)
    assert not list(tmp_path.iterdir())


def test_trt_path_with_a_stand_in_builder(setup, tmp_path, monkeypatch):
    """Plumbing only (no TensorRT here): builder gets a runtime Bundle of the staged files, the engine
    is gated through the backend's ``run`` and listed in the manifest."""
    import edgecl_runtime.backends.trt as trt_backend
    import edgecl_runtime.backends.trt.build as trt_build
    from edgecl.exporters.parity import ort_runner

    seen = {}

    def fake_build(bundle, precision, options, **kwargs):
        seen.update(precision=precision, max_batch=options.max_batch, sha=bundle.onnx_sha256("fp16"),
                    onnx=bundle.onnx_path("fp16"))
        path = options.out_path
        assert path == bundle.path / "model.fp16.plan"
        path.write_bytes(b"plan-stand-in")
        return path

    class FakeBackend:
        closed = False

        def __init__(self, onnx_path):
            self.run = ort_runner(onnx_path)

        @classmethod
        def for_bundle(cls, bundle, precision="fp32", engine=None):
            assert precision == "fp16" and engine.name == "model.fp16.plan"
            return cls(bundle.onnx_path("fp16"))

        def close(self):
            FakeBackend.closed = True

    monkeypatch.setattr(trt_row, "tensorrt_available", lambda: True)
    monkeypatch.setattr(trt_build, "build_engine", fake_build)
    monkeypatch.setattr(trt_backend, "TrtBackend", FakeBackend)
    out = tmp_path / "export"
    man = export_setup(setup, out, formats={"trt"}, max_batch=16)
    trt = man["formats"]["trt_fp16"]
    assert trt["status"] == "passed" and trt["file"] == "model.fp16.plan", trt
    assert man["files"]["model.fp16.plan"]["sha256"] == sha256_file(out / "model.fp16.plan")
    assert seen["precision"] == "fp16" and seen["max_batch"] == 16
    assert seen["sha"] == man["files"]["model.fp16.onnx"]["sha256"]
    assert man["formats"]["fp16"]["requested"] is False and FakeBackend.closed
    assert failed_formats(man) == []


def test_package_exports_public_api():
    import edgecl.exporters as ex
    from edgecl.exporters.bundle import export_bundle

    assert ex.export_bundle is export_bundle and ex.failed_formats is failed_formats
    assert callable(ex.quantize_int8) and callable(ex.stratified_sample) and callable(ex.export_onnx)
    assert callable(ex.quantize_int8_cpu)
    with pytest.raises(AttributeError):
        ex.not_there  # noqa: B018
