"""Classifier API: preprocessing of many image modes, softmax, agreement with raw ORT."""
import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from edgecl_runtime.predict.classifier import Classifier, softmax
from edgecl_runtime.errors import ImageError
from tests.runtime.rt_factory import make_bundle


def _images():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
    return {
        "gray": Image.fromarray(rgb[..., 0]),
        "rgb": Image.fromarray(rgb),
        "rgba": Image.fromarray(np.dstack([rgb, rng.integers(0, 255, (40, 30), dtype=np.uint8)])),
        "palette": Image.fromarray(rgb).convert("P"),
        "16bit": Image.fromarray(rng.integers(0, 65535, (28, 28)).astype(np.uint16)),
    }


@pytest.mark.parametrize("color", ["L", "RGB"])
def test_predict_every_mode(tmp_path, color):
    b = make_bundle(tmp_path / "b", color=color, k=5)
    clf = Classifier(b)
    imgs = _images()
    for name, img in imgs.items():  # also via files on disk
        img.save(tmp_path / f"{name}.png")
    preds = clf.predict(list(imgs.values()), top_k=3)
    from_files = clf.predict([tmp_path / f"{n}.png" for n in imgs], top_k=3)
    assert len(preds) == 5 and all(len(p) == 3 for p in preds)
    for p, q in zip(preds, from_files):
        assert [e["class"] for e in p] == [e["class"] for e in q]
        probs = [e["probability"] for e in p]
        assert probs == sorted(probs, reverse=True) and all(0 < x <= 1 for x in probs)


def test_matches_raw_onnxruntime(bundle_template):
    clf = Classifier(bundle_template)
    img = Image.fromarray(np.arange(28 * 28, dtype=np.uint8).reshape(28, 28))
    x = (np.asarray(img, np.float32) / 255)[None, None]
    ref = ort.InferenceSession(str(bundle_template / "model.onnx")).run(None, {"input": x})[0]
    best = clf.predict([img], top_k=4)[0]
    p = softmax(ref)[0]
    assert best[0]["index"] == int(ref.argmax())
    assert [e["probability"] for e in best] == pytest.approx(sorted(p, reverse=True), abs=1e-6)


def test_softmax_is_stable_and_normalised():
    p = softmax(np.array([[1000.0, 1000.0, -1000.0], [0.0, 0.0, 0.0]]))
    assert np.allclose(p.sum(1), 1) and p[0, 0] == pytest.approx(0.5) and np.isfinite(p).all()


def test_bad_image_raises_in_predict_and_is_partial_in_classify(tmp_path, bundle_template):
    clf = Classifier(bundle_template, precision="fp16")
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    Image.new("L", (28, 28), 9).save(tmp_path / "ok.png")
    with pytest.raises(ImageError, match=r"bad\.jpg"):
        clf.predict([tmp_path / "bad.jpg"])
    recs = clf.classify([str(tmp_path)], top_k=2)
    assert [("error" in r, "predictions" in r) for r in recs] == [(True, False), (False, True)]


def test_int8_backend_runs(bundle_template):
    clf = Classifier(bundle_template, precision="int8")
    assert clf.backend.describe()["model"] == "model.int8.onnx"
    assert len(clf.predict([Image.new("L", (28, 28))], top_k=10)[0]) == 4  # capped at K


def test_provider_choice():
    from edgecl_runtime.backends.ort import choose_providers
    from edgecl_runtime.errors import RuntimeFailure

    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(gpu) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(gpu, "tensorrt") == gpu
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeFailure, match="no CUDAExecutionProvider"):
        choose_providers(["CPUExecutionProvider"], "cuda")


def test_fp32_on_cuda_turns_tf32_off():
    from edgecl_runtime.backends.ort import with_options

    gpu = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert with_options(gpu, "fp32") == [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]
    assert with_options(gpu, "fp16") == gpu
    assert with_options(["CPUExecutionProvider"], "fp32") == ["CPUExecutionProvider"]
