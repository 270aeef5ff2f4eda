"""DeepStream ``nvinfer`` configs for every exported ONNX precision, its label file, and what its
preprocessing costs in accuracy.

Written into every bundle: ``labels.txt`` and ``deepstream/config_infer_<precision>.txt``. Paths in a
config are relative to the config file (nvinfer resolves them so), so the bundle folder can be
copied anywhere. The keys, checked against DeepStream's ``gstnvinfer_property_parser`` and the
Gst-nvinfer documentation:

* ``net-scale-factor=1/255`` with zero ``offsets``: nvinfer computes ``y = scale * (x - offset)`` on
  8-bit pixels, which gives the [0, 1] floats the graph expects; mean/std normalisation is inside
  the graph, so nothing else is configured;
* ``model-color-format`` 0 (RGB) or 2 (GRAY) from the input spec's colour; ``infer-dims`` C;H;W;
* ``network-type=1`` (classifier), ``network-mode`` 0 fp32, 1 int8, 2 fp16;
* ``output-blob-names=logits``; the label file of a classifier is one line per output layer with
  the class names separated by ';' (``;`` and line breaks inside a name become ``,`` and a space);
* ``classifier-threshold``: nvinfer's default parser treats the output as probabilities and attaches
  the top class only when it is above the threshold. The graph outputs logits, and nvinfer refuses a
  negative threshold, so 0 is written: an object is labelled when its top logit is positive. The
  accuracy below counts unlabelled objects as wrong, so the cost of this is in the number;
* ``process-mode=1`` (primary: whole frames) with the secondary variant (objects of a detector)
  written out as comments in each file;
* ``scaling-filter=1`` (bilinear; nvinfer's default, 0, is GPU-Nearest / VIC-Nearest) and
  ``scaling-compute-hw=1`` (GPU): the VIC downscales at most 16x (a 1920x1080 frame to a 28 px
  network is 69x, to 224 px 8.6x) and its filters are not the GPU's, so the GPU scales, with the
  filter whose accuracy the manifest records (``accuracy_pct``; ``nearest_accuracy_pct`` is what
  the default filter would give);
* INT8: nvinfer sets a calibrator only when ``int8-calib-file`` is given; otherwise it logs
  "INT8 calibration file not specified. Trying FP16 mode." and builds with the FP16 flag only
  (DeepStream 6.x ``nvdsinfer_model_builder.cpp``, ``TrtModelBuilder``), which TensorRT refuses for
  a Q/DQ network.  So the INT8 config has no ``onnx-file``: its ``model-engine-file`` is the plan
  ``edgecl-rt build BUNDLE --int8 --save-engine BUNDLE/model.int8.plan`` writes on the device, which
  nvinfer loads as it is (the first comment line says so).

nvinfer scales the frame or object straight to the network size (``maintain-aspect-ratio=0``, no
centre crop), while edgecl's own preprocessing may resize the shorter side and crop the centre.
:func:`deepstream_accuracy` measures the FP32 model on the seen tasks' test sets preprocessed the
nvinfer way (where that is edgecl's own preprocessing, the reference logits already computed are
used: the FP32 gate has shown the ONNX agrees with them, and the test sets are not read again); the manifest records it next to the PyTorch accuracy (``deepstream.accuracy_pct``,
``deepstream.accuracy_delta_pp``) so the cost is known before deploying.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from edgecl_runtime.atomic_io import write_bytes_atomic

from ..parity.gate import ort_runner, stream_logits
from ..parity.sources import BatchSource, as_source

FOLDER = "deepstream"
LABELS_NAME = "labels.txt"
NETWORK_MODE = {"fp32": 0, "int8": 1, "fp16": 2}
SCALING_FILTER = 1  # bilinear, measured by nvinfer_scale; nvinfer's default 0 is nearest
SCALING_COMPUTE_HW = 1  # GPU: the VIC downscales at most 16x
INT8_PLAN = "model.int8.plan"  # written on the device by `edgecl-rt build --int8 --save-engine`
COLOR_FORMAT = {"RGB": 0, "L": 2}  # nvinfer: 0 RGB, 1 BGR, 2 GRAY
CLASSIFIER_THRESHOLD = 0.0  # the lowest nvinfer accepts; compared with the top logit
BATCH_SIZE = 1
OUTPUT_NAME = "logits"


def config_name(precision: str) -> str:
    """Bundle-relative name of a precision's nvinfer config."""
    return f"{FOLDER}/config_infer_{precision}.txt"


def labels_text(classes: Sequence[str]) -> str:
    """nvinfer's classifier label file: one line, class names separated by ';'."""
    clean = [str(c).replace(";", ",").replace("\r", " ").replace("\n", " ") for c in classes]
    return ";".join(clean) + "\n"


def engine_name(onnx_file: str, precision: str, batch: int = BATCH_SIZE) -> str:
    """The engine name nvinfer saves a built engine under (``<onnx>_b<batch>_gpu0_<precision>.engine``),
    so the first run builds it and later runs load it."""
    return f"{onnx_file}_b{int(batch)}_gpu0_{precision}.engine"


def config_text(*, precision: str, onnx_file: str, input_spec: Mapping[str, Any], run: str, task: int) -> str:
    """One ``config_infer_<precision>.txt`` (INI text for nvinfer's GKeyFile parser)."""
    if precision not in NETWORK_MODE:
        raise ValueError(f"no DeepStream network-mode for precision {precision!r}: use fp32, fp16 or int8")
    color = input_spec["color"]
    channels, size = (1 if color == "L" else 3), int(input_spec["crop"])
    offsets = ";".join(["0"] * channels)
    lines = [
        *_int8_first_line(precision),
        f"# nvinfer config for edgecl run {run!r} task {task}, {precision} (generated by edgecl export).",
        "# Paths are relative to this file. Inputs: 8-bit pixels scaled to [0, 1]; normalisation is in the graph.",
        "# nvinfer scales the frame/object straight to the network size (no centre crop), bilinear on the GPU",
        "# (scaling-filter=1, scaling-compute-hw=1: the VIC shrinks at most 16x): the accuracy this costs is in",
        "# manifest.json: deepstream.accuracy_pct (nearest_accuracy_pct with nvinfer's default filter 0).",
        "# The output is logits: classifier-threshold=0 labels an object when its top logit is positive.",
        *_precision_notes(precision),
        "[property]",
        "gpu-id=0",
        *_model_lines(precision, onnx_file),
        f"labelfile-path=../{LABELS_NAME}",
        "network-type=1",
        f"network-mode={NETWORK_MODE[precision]}",
        f"net-scale-factor={1.0 / 255.0!r}",
        f"offsets={offsets}",
        f"model-color-format={COLOR_FORMAT[color]}",
        f"infer-dims={channels};{size};{size}",
        f"batch-size={BATCH_SIZE}",
        f"output-blob-names={OUTPUT_NAME}",
        f"classifier-threshold={CLASSIFIER_THRESHOLD:g}",
        "maintain-aspect-ratio=0",
        f"scaling-filter={SCALING_FILTER}",
        f"scaling-compute-hw={SCALING_COMPUTE_HW}",
        "gie-unique-id=1",
        "process-mode=1",
        *_secondary_variant(),
    ]
    return "\n".join(lines) + "\n"


def _int8_first_line(precision: str) -> list[str]:
    if precision != "int8":
        return []
    return [f"# FIRST, on this device: edgecl-rt build BUNDLE --int8 --save-engine BUNDLE/{INT8_PLAN} "
            "(nvinfer loads that plan; it cannot build the Q/DQ model itself)"]


def _model_lines(precision: str, onnx_file: str) -> list[str]:
    """``onnx-file`` + the engine name nvinfer saves under, or for INT8 only the device-built plan."""
    if precision == "int8":
        return [f"model-engine-file=../{INT8_PLAN}"]
    return [f"onnx-file=../{onnx_file}", f"model-engine-file=../{engine_name(onnx_file, precision)}"]


def _precision_notes(precision: str) -> list[str]:
    if precision == "int8":
        return ["# INT8: the ONNX carries its own Q/DQ scales. Without int8-calib-file nvinfer would build it",
                "# with the FP16 flag only, which TensorRT refuses for Q/DQ; so no onnx-file here: the plan",
                "# above is loaded as it is (rebuild it after every JetPack or model update)."]
    if precision == "fp16":
        return ["# FP16: model.fp16.onnx keeps LayerNorm/Softmax/reductions in FP32 (they overflow in FP16)."]
    return []


def _secondary_variant() -> list[str]:
    """The secondary-classifier settings, commented: classify the objects of a primary detector."""
    return [
        "# Secondary classifier (classify the objects a primary detector with gie-unique-id=1 finds):",
        "# replace process-mode=1 and gie-unique-id=1 above with",
        "#   process-mode=2",
        "#   gie-unique-id=2",
        "#   operate-on-gie-id=1",
        "#   operate-on-class-ids=0        (the detector's classes to classify)",
        "#   classifier-async-mode=0",
        "#   input-object-min-width=16",
        "#   input-object-min-height=16",
        "# and raise batch-size to the objects per batch (the engine name's _b<N> changes with it).",
    ]


def write_deepstream(bundle_dir: str | Path, *, classes: Sequence[str], input_spec: Mapping[str, Any],
                     onnx_files: Mapping[str, str], run: str, task: int) -> dict[str, str]:
    """Write ``labels.txt`` and one config per precision in ``onnx_files`` ({precision: file});
    returns {precision: config name}."""
    root = Path(bundle_dir)
    write_bytes_atomic(root / LABELS_NAME, labels_text(classes).encode("utf-8"))
    configs = {}
    for precision, onnx_file in onnx_files.items():
        text = config_text(precision=precision, onnx_file=onnx_file, input_spec=input_spec, run=run, task=task)
        write_bytes_atomic(root / config_name(precision), text.encode("utf-8"))
        configs[precision] = config_name(precision)
    return configs


def nvinfer_predictions(logits: np.ndarray, threshold: float = CLASSIFIER_THRESHOLD) -> np.ndarray:
    """What nvinfer's default classifier parser attaches: the top class if its value is above
    ``threshold``, else no label (-1)."""
    top = logits.argmax(axis=1)
    return np.where(logits.max(axis=1) > threshold, top, -1)


def deepstream_accuracy(onnx_path: str | Path, test_sets: Sequence[tuple[np.ndarray, np.ndarray] | BatchSource],
                        *, threshold: float = CLASSIFIER_THRESHOLD) -> dict[str, Any]:
    """Top-1 accuracy (percent) of the model at ``onnx_path`` on nvinfer-preprocessed test sets (one
    per seen task), unlabelled objects counted as wrong; streamed batch by batch."""
    run = ort_runner(onnx_path)
    sources = [as_source(s) for s in test_sets]
    return nvinfer_accuracy([stream_logits(run, s) for s in sources], [s.labels for s in sources], threshold)


def nvinfer_accuracy(logits: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                     threshold: float = CLASSIFIER_THRESHOLD) -> dict[str, Any]:
    """Accuracy record from per-task logits as nvinfer would label them (unlabelled = wrong)."""
    per_task, hits, unlabelled, total = [], 0, 0, 0
    for lg, y in zip(logits, labels):
        pred = nvinfer_predictions(np.asarray(lg), threshold)
        correct = int(np.sum(pred == np.asarray(y)))
        per_task.append(100.0 * correct / max(1, len(y)))
        hits, unlabelled, total = hits + correct, unlabelled + int(np.sum(pred < 0)), total + len(y)
    if total == 0:
        raise ValueError("DeepStream accuracy needs at least one non-empty test set")
    return {"accuracy_pct": 100.0 * hits / total, "per_task_accuracy_pct": per_task,
            "unlabelled_pct": 100.0 * unlabelled / total, "n_test": total}


def deepstream_record(configs: Mapping[str, str], measured: Mapping[str, Any] | None, pytorch_pct: float,
                      preprocessing: str) -> dict[str, Any]:
    """The manifest's ``deepstream`` entry: files, threshold, measured accuracy and its change."""
    record: dict[str, Any] = {"configs": dict(configs), "labels": LABELS_NAME,
                              "classifier_threshold": CLASSIFIER_THRESHOLD, "preprocessing": preprocessing}
    if measured is None:
        return {**record, "accuracy_pct": None, "accuracy_delta_pp": None}
    delta = float(measured["accuracy_pct"]) - float(pytorch_pct)
    return {**record, **dict(measured), "accuracy_delta_pp": round(delta, 4)}


__all__ = ["write_deepstream", "deepstream_accuracy", "nvinfer_accuracy", "deepstream_record", "config_text", "labels_text",
           "config_name", "nvinfer_predictions", "LABELS_NAME", "NETWORK_MODE"]
