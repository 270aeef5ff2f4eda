"""Bounded memory: export streams test and calibration sets batch by batch.

The test sets here are generated on the fly, row by row, so they exist only as the batches the
exporter asks for: if the reference, the gate, the golden selection or INT8 calibration gathered
a whole set into one array, the largest batch or the traced peak below would show it.
"""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from tests.exporters.conftest import export_with
from edgecl.exporters.parity.golden import select_golden
from edgecl.exporters.quantize.int8 import BatchCalibrationReader
from edgecl.exporters.parity.sources import BatchSource, array_source
from edgecl.exporters.quantize import Int8Options

from ..conftest import NUM_CLASSES

BATCH = 16
TEMPLATES = np.random.default_rng(1234).random((NUM_CLASSES, 1, 28, 28), dtype=np.float32)


class Recorder:
    """Counts what every source hands out: largest batch, rows read, rows materialised by take."""

    def __init__(self) -> None:
        self.largest, self.rows_read, self.taken = 0, 0, []


def generated(labels: np.ndarray, offset: int, rec: Recorder) -> BatchSource:
    """A test set whose images are made per batch (template of the class + per-row noise)."""
    labels = np.asarray(labels, dtype=np.int64)

    def read(rows):
        for i in range(0, len(rows), BATCH):
            part = rows[i:i + BATCH]
            noise = np.stack([np.random.default_rng(offset + r).normal(0, 0.3, (1, 28, 28)) for r in part])
            x = np.clip(TEMPLATES[labels[part]] + noise, 0, 1).astype(np.float32)
            rec.largest = max(rec.largest, len(x))
            rec.rows_read += len(x)
            yield x, labels[part]

    return BatchSource(labels, (1, 28, 28), read)


def _sources(n_per_task: int, rec: Recorder) -> list[BatchSource]:
    per_class = n_per_task // 2
    return [generated(np.repeat([2 * t, 2 * t + 1], per_class), 100_000 * t, rec) for t in range(2)]


def test_source_take_and_batches_match_arrays(setup):
    x, y = setup.test_sets[0]
    src = array_source(x, y, batch_size=7)
    assert len(src) == len(y) and src.chw == x.shape[1:]
    got = list(src.batches())
    assert max(len(b) for b, _ in got) == 7
    assert np.array_equal(np.concatenate([b for b, _ in got]), x)
    rows = np.array([0, 3, 4, 50])
    assert np.array_equal(src.take(rows), x[rows])
    assert np.array_equal(np.concatenate([lb for _, lb in src.batches(rows)]), y[rows])


def test_golden_from_sources_equals_golden_from_arrays_and_reads_only_golden_rows(setup):
    rec = Recorder()
    sets = [array_source(x, y) for x, y in setup.test_sets]
    counted = [_counting(s, rec) for s in sets]
    a = select_golden(setup.test_sets, n=32, seed=3)
    b = select_golden(counted, n=32, seed=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert rec.rows_read == 32  # the golden images, nothing else


def _counting(src: BatchSource, rec: Recorder) -> BatchSource:
    def read(rows):
        for x, y in src.read(rows):
            rec.largest = max(rec.largest, len(x))
            rec.rows_read += len(x)
            yield x, y
    return BatchSource(src.labels, src.chw, read)


def test_export_streams_and_never_materialises_a_test_set(setup, tmp_path):
    """3000 test images per task (18 MB as float32): batches of <= 16, traced peak far below the sets."""
    rec = Recorder()
    sources = _sources(3000, rec)
    total_bytes = sum(len(s) for s in sources) * 28 * 28 * 4
    calib = generated(np.repeat(np.arange(NUM_CLASSES), 150), 7_000_000, rec)
    tracemalloc.start()
    try:
        man = export_with(setup.model, tmp_path / "export", classes=setup.classes, input_spec=setup.spec,
                            golden=None, test_sets=sources, calib=calib, formats={"int8"}, run_name="r", task=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert man["formats"]["fp32"]["status"] == "passed", man["formats"]["fp32"]
    assert man["formats"]["int8"]["status"] in ("passed", "gate_failed"), man["formats"]["int8"]
    assert man["formats"]["int8"]["calibration"]["n"] == 600
    assert man["pytorch"]["n_test"] == 6000
    assert rec.largest <= BATCH  # nothing asked a source for more than one batch at a time
    # reference + fp32 gate + int8 gate over every test image, golden rows, calibration once
    golden = man["formats"]["fp32"]["gate"]
    assert rec.rows_read <= 3 * 6000 + 256 + 600, (rec.rows_read, golden)
    assert peak < total_bytes / 4, (peak, total_bytes)


def test_streamed_gate_equals_array_gate(setup, tmp_path):
    """Same verdict and numbers whether the test sets come as arrays or as batch sources."""
    base = dict(classes=setup.classes, input_spec=setup.spec, golden=setup.golden, calib=setup.calib,
                formats={"fp16"}, run_name="r", task=2)
    arrays = export_with(setup.model, tmp_path / "a", test_sets=setup.test_sets, **base)
    streamed = export_with(setup.model, tmp_path / "s",
                             test_sets=[array_source(x, y, batch_size=5) for x, y in setup.test_sets], **base)
    for fmt in ("fp32", "fp16"):
        ga, gs = arrays["formats"][fmt]["gate"], streamed["formats"][fmt]["gate"]
        assert ga["passed"] == gs["passed"] and ga["top1_agreement"] == gs["top1_agreement"]
        assert ga["accuracy"] == gs["accuracy"] and ga["per_task_top1_agreement"] == gs["per_task_top1_agreement"]
        assert ga["max_abs_diff"] == pytest.approx(gs["max_abs_diff"], abs=1e-5)
    assert arrays["pytorch"]["accuracy"] == streamed["pytorch"]["accuracy"]


def test_streamed_inputs_are_checked(setup, tmp_path):
    x, y = setup.test_sets[0]
    bad_range = BatchSource(y, x.shape[1:], lambda rows: iter([(x[rows] * 255, y[rows])]))
    wrong_labels = BatchSource(y, x.shape[1:], lambda rows: iter([(x[rows], y[rows][::-1])]))
    args = dict(classes=setup.classes, input_spec=setup.spec, golden=setup.golden, run_name="r", task=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        export_with(setup.model, tmp_path / "e", test_sets=[bad_range], **args)
    with pytest.raises(ValueError, match="labels"):
        export_with(setup.model, tmp_path / "e", test_sets=[wrong_labels], **args)
    with pytest.raises(ValueError, match="per the input spec"):
        export_with(setup.model, tmp_path / "e", test_sets=[BatchSource(y, (1, 14, 28), None)], **args)
    assert not list(tmp_path.iterdir())


def test_calibration_reader_recuts_batches_and_rewinds():
    x = np.random.default_rng(0).random((50, 1, 4, 4), dtype=np.float32)
    reader = BatchCalibrationReader(array_source(x, np.zeros(50), batch_size=7), batch_size=16)
    for _ in range(2):
        got = []
        while (item := reader.get_next()) is not None:
            got.append(item["input"])
        assert [len(g) for g in got] == [16, 16, 16, 2]
        assert np.array_equal(np.concatenate(got), x)
        reader.rewind()
    nan = x.copy()
    nan[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BatchCalibrationReader(array_source(nan, np.zeros(50)), batch_size=16).get_next()


def test_streamed_calibration_is_checked(setup, tmp_path):
    """Out-of-range calibration batches are refused while streaming: int8 is export_failed, fp32 ships."""
    bad = array_source(setup.calib * 255, np.zeros(len(setup.calib)))
    man = export_with(setup.model, tmp_path / "e", classes=setup.classes, input_spec=setup.spec,
                        golden=setup.golden, test_sets=setup.test_sets, calib=bad, formats={"int8"},
                        run_name="r", task=2)
    assert man["formats"]["fp32"]["status"] == "passed"
    entry = man["formats"]["int8"]
    assert entry["status"] == "export_failed" and "[0, 1]" in entry["error"], entry


def test_calibration_reader_serves_strided_ranges():
    """ORT's CalibStridedMinMax asks for consecutive ranges of calibration batches (len = batches)."""
    x = np.random.default_rng(1).random((50, 1, 4, 4), dtype=np.float32)
    reader = BatchCalibrationReader(array_source(x, np.zeros(50), batch_size=7), batch_size=8)
    assert len(reader) == 7
    got = []
    for start in range(len(reader)):
        reader.set_range(start_index=start, end_index=start + 1)
        chunk = []
        while (item := reader.get_next()) is not None:
            chunk.append(item["input"])
        assert len(chunk) == 1
        got.append(chunk[0])
    assert np.array_equal(np.concatenate(got), x)
    reader.set_range(start_index=2, end_index=4)  # going back rewinds
    assert np.array_equal(reader.get_next()["input"], x[16:24])


def test_streamed_calibration_gives_the_same_int8_model_as_arrays(setup, tmp_path):
    """Strided, streamed MinMax calibration = one pass over the array (same scales, bit for bit)."""
    import onnx
    from onnx import numpy_helper

    from edgecl.exporters.quantize.int8 import quantize_int8
    from edgecl.exporters.onnx.export import export_onnx

    src = export_onnx(setup.model, tmp_path / "m.onnx", input_shape=(1, 28, 28))
    calib = setup.calib[:100]
    a = quantize_int8(src, tmp_path / "a.onnx", calib, Int8Options(batch_size=100))
    b = quantize_int8(src, tmp_path / "b.onnx", array_source(calib, np.zeros(100), batch_size=7), Int8Options(batch_size=8))

    def scales(path):
        return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer
                if t.name.endswith("_scale")}
    sa, sb = scales(a), scales(b)
    assert sa.keys() == sb.keys() and len(sa) > 0
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)


def test_histogram_methods_stream_one_batch_at_a_time_and_differ_from_minmax(setup, tmp_path, monkeypatch):
    """Percentile and entropy fold each calibration batch into their histograms as it arrives (ORT's
    calibrator never holds more than one batch of tensors), stay symmetric, and give other scales
    than MinMax (the method really reaches ORT)."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import calibrate

    from edgecl.exporters.quantize.int8 import nonzero_zero_points, quantize_int8
    from edgecl.exporters.onnx.export import export_onnx

    held = []
    real = calibrate.HistogramCalibrater.collect_data

    def watched(self, reader):
        real(self, reader)
        held.append(len(self.intermediate_outputs))  # ORT clears it after folding
    monkeypatch.setattr(calibrate.HistogramCalibrater, "collect_data", watched)

    src = export_onnx(setup.model, tmp_path / "m.onnx", input_shape=(1, 28, 28))
    calib = array_source(setup.calib[:40], np.zeros(40), batch_size=16)

    def scales(path):
        return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer
                if t.name.endswith("_scale")}
    base = scales(quantize_int8(src, tmp_path / "minmax.onnx", calib, Int8Options(batch_size=8)))
    for method in ("percentile", "entropy"):
        held.clear()
        dst = quantize_int8(src, tmp_path / f"{method}.onnx", calib, Int8Options(method=method, batch_size=8))
        assert held == [0] * 5  # 40 images / batch 8: one collect per batch, nothing kept after it
        assert nonzero_zero_points(onnx.load(str(dst))) == []
        got = scales(dst)
        assert got.keys() == base.keys()
        assert any(not np.array_equal(got[k], base[k]) for k in got)
