"""edgecl-rt predict --video / --camera: one JSON line per classified frame, on a generated clip."""
import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from edgecl_runtime.cli import app

cv2 = pytest.importorskip("cv2", reason="OpenCV (the runtime's [video] extra) is not installed")

try:
    runner = CliRunner(mix_stderr=False)
except TypeError:
    runner = CliRunner()


def _clip(path, n=10, size=(64, 48)):
    """An MJPG/AVI clip whose frames differ (a bright square moving over a gradient)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    assert writer.isOpened()
    for i in range(n):
        frame = np.tile(np.linspace(0, 255, size[0], dtype=np.uint8), (size[1], 1))
        frame = np.stack([frame, np.roll(frame, 7 * i, axis=1), 255 - frame], axis=-1)
        frame[5:25, 4 * i:4 * i + 20] = 250
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    return path


def _lines(stdout):
    return [json.loads(l) for l in stdout.splitlines() if l.strip()]


def test_video_every_k_gives_one_line_per_classified_frame(bundle_template, tmp_path):
    from edgecl_runtime.predict.classifier import Classifier
    from edgecl_runtime.predict.video import classify_frame, frames

    clip = _clip(tmp_path / "clip.avi")
    res = runner.invoke(app, ["predict", str(bundle_template), "--video", str(clip), "--every", "3",
                              "-k", "2"])
    assert res.exit_code == 0, res.stderr
    lines = _lines(res.stdout)
    assert [l["frame"] for l in lines] == [0, 3, 6, 9]
    assert all(len(l["predictions"]) == 2 and l["source"] == str(clip) and l["task"] == 1 for l in lines)
    assert lines[1]["time_s"] > lines[0]["time_s"]
    clf = Classifier(bundle_template)  # the same frames through the Python API agree
    cap = cv2.VideoCapture(str(clip))
    expected = [classify_frame(clf, rgb, 2) for _, _, rgb in frames(cv2, cap, 3)]
    cap.release()
    assert [l["predictions"] for l in lines] == json.loads(json.dumps(expected))


@pytest.mark.parametrize("args,code,msg", [
    ([], 2, "give exactly one of IMAGES, --video FILE or --camera N (got none)"),
    (["--camera", "0", "--video", "x.avi"], 2, "got --video, --camera"),
    (["--video", "missing.avi"], 1, "cannot open video missing.avi"),
    (["--camera", "99"], 1, "cannot open camera 99"),
])
def test_bad_sources_are_one_line(bundle_template, args, code, msg):
    res = runner.invoke(app, ["predict", str(bundle_template), *args])
    errors = [l for l in res.stderr.splitlines() if "error" in l]
    assert res.exit_code == code and len(errors) == 1 and msg in errors[0], res.stderr


def test_empty_video_exits_1(bundle_template, tmp_path):
    clip = _clip(tmp_path / "empty.avi", n=0)
    res = runner.invoke(app, ["predict", str(bundle_template), "--video", str(clip)])
    assert res.exit_code == 1 and ("no frame could be read" in res.stderr or "cannot open" in res.stderr)


def test_without_opencv_the_error_names_the_extra(bundle_template, tmp_path, monkeypatch):
    clip = _clip(tmp_path / "clip.avi", n=2)
    monkeypatch.setitem(sys.modules, "cv2", None)
    res = runner.invoke(app, ["predict", str(bundle_template), "--video", str(clip)])
    assert res.exit_code == 1 and "edgecl-runtime[video]" in res.stderr
