"""A fake DeepStream ``nvinfer`` start-up: what it does with a config, as its sources say.

From DeepStream 6.x ``sources/libs/nvdsinfer`` (``nvdsinfer_context_impl.cpp``,
``nvdsinfer_model_builder.cpp``):
* a ``model-engine-file`` that exists is deserialised as it is ("Load engine"); when it is missing
  or fails, nvinfer builds from the model file ("Load engine failed. Create engine again");
* no model file either: "failed to build network since there is no model file matched.";
* INT8 without a calibrator (no ``int8-calib-file``): "INT8 calibration file not specified. Trying
  FP16 mode." and only ``BuilderFlag::kFP16`` is set (``TrtModelBuilder::buildEngine``); the
  TensorRT fake then refuses a Q/DQ network, as TensorRT does;
* a built engine is saved as ``<model>_b<batch>_<gpu0|dlaN>_<mode>.engine`` with the mode it was
  *built* in (fp16 after the fallback), so it never matches an INT8 ``model-engine-file``.
"""
from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any, Dict

from tests.runtime.backends.trt.fake_tensorrt import make_trt

MODES = {"0": "fp32", "1": "int8", "2": "fp16"}


def start(config_path: Path, trt_version: str = "8.6.1") -> Dict[str, Any]:
    """{"ok", "log", "engine"}: what nvinfer would print and load for ``config_path``."""
    parser = configparser.ConfigParser(comment_prefixes=("#",), interpolation=None)
    parser.read_string(config_path.read_text())
    prop, base, log = parser["property"], config_path.parent, []
    engine = prop.get("model-engine-file")
    if engine and (base / engine).is_file():
        log.append(f"Load new model:{engine} sucessfully")
        return {"ok": True, "log": log, "engine": (base / engine).resolve()}
    if engine:
        log.append(f"deserialize engine from file :{engine} failed; Load engine failed. Create engine again")
    onnx = prop.get("onnx-file")
    if not onnx:
        log.append("failed to build network since there is no model file matched.")
        return {"ok": False, "log": log, "engine": None}
    mode = MODES[prop.get("network-mode", "0")]
    flags = {"fp16": ["FP16"], "fp32": []}.get(mode, [])
    if mode == "int8":
        if prop.get("int8-calib-file") and (base / prop["int8-calib-file"]).is_file():
            flags = ["INT8"]
        else:
            log.append("INT8 calibration file not specified. Trying FP16 mode.")
            mode, flags = "fp16", ["FP16"]
    trt = make_trt(trt_version)
    builder = trt.Builder(None)
    network = builder.create_network(1)
    if not trt.OnnxParser(network, None).parse_from_file(str(base / onnx)):
        log.append("failed to build network since parsing model errors.")
        return {"ok": False, "log": log, "engine": None}
    config = builder.create_builder_config()
    for name in flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if builder.build_serialized_network(network, config) is None:
        log.append(f"{trt.calls[-1][1]}; failed to build trt engine.")
        return {"ok": False, "log": log, "engine": None}
    saved = base / f"{onnx}_b{prop.get('batch-size', '1')}_gpu0_{mode}.engine"
    log.append(f"serialize cuda engine to file: {saved.resolve()} successfully")
    return {"ok": True, "log": log, "engine": saved.resolve()}
