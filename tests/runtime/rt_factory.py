"""Tiny export bundles for the runtime tests, built without torch.

Model: ``input`` float32 [N, C, 28, 28] -> Flatten -> Gemm(W, b) -> ``logits`` [N, K], dynamic
batch.  fp16 variant casts to float16 around an fp16 Gemm; int8 variant stores W as int8 with a
DequantizeLinear (a Q/DQ weight).  golden.npz holds ORT fp32 outputs as the "PyTorch" logits.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

SIZE = 28


def _weights(k: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = (rng.normal(0, 0.05, (c * SIZE * SIZE, k))).astype(np.float32)
    b = rng.normal(0, 0.1, (k,)).astype(np.float32)
    return w, b


def make_onnx(path: Path, k: int, c: int = 1, precision: str = "fp32", seed: int = 0) -> Path:
    """Write the tiny classifier ONNX for ``precision``."""
    w, b = _weights(k, c, seed)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, SIZE, SIZE])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", k])
    nodes, inits = [helper.make_node("Flatten", ["input"], ["flat"], axis=1)], []
    if precision == "fp32":
        inits += [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")]
        nodes.append(helper.make_node("Gemm", ["flat", "W", "B"], ["logits"]))
    elif precision == "fp16":
        inits += [numpy_helper.from_array(w.astype(np.float16), "W"),
                  numpy_helper.from_array(b.astype(np.float16), "B")]
        nodes += [helper.make_node("Cast", ["flat"], ["flat16"], to=TensorProto.FLOAT16),
                  helper.make_node("Gemm", ["flat16", "W", "B"], ["y16"]),
                  helper.make_node("Cast", ["y16"], ["logits"], to=TensorProto.FLOAT)]
    else:
        scale = np.float32(np.abs(w).max() / 127)
        inits += [numpy_helper.from_array(np.round(w / scale).astype(np.int8), "Wq"),
                  numpy_helper.from_array(np.array(scale, np.float32), "Ws"),
                  numpy_helper.from_array(np.array(0, np.int8), "Wz"),
                  numpy_helper.from_array(b, "B")]
        nodes += [helper.make_node("DequantizeLinear", ["Wq", "Ws", "Wz"], ["W"]),
                  helper.make_node("Gemm", ["flat", "W", "B"], ["logits"])]
    graph = helper.make_graph(nodes, "tiny", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _sha(path: Path) -> dict:
    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def make_bundle(folder: Path, task: int = 1, k: int = 4, classes: list[str] | None = None,
                color: str = "L", seed: int = 0, n_golden: int = 16, logit_offset: float = 0.0,
                manifest_version: int = 1, run: str = "test", created: str | None = None) -> Path:
    """Write a complete bundle into ``folder`` (created) and return it.

    ``created`` defaults to a time that grows with ``task`` (a later task of a run is made later).
    """
    folder.mkdir(parents=True, exist_ok=True)
    c = 1 if color == "L" else 3
    files = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}
    for prec, name in files.items():
        make_onnx(folder / name, k, c, prec, seed)
    rng = np.random.default_rng(seed + 1)
    inputs = rng.random((n_golden, c, SIZE, SIZE), dtype=np.float32)
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"input": inputs})[0].astype(np.float32) + np.float32(logit_offset)
    np.savez(folder / "golden.npz", inputs=inputs, logits=logits,
             labels=logits.argmax(1).astype(np.int64),
             task_ids=np.full(n_golden, task, np.int64))
    classes = classes or [f"t{task}c{i}" for i in range(k)]
    manifest = {
        "manifest_version": manifest_version, "created": created or f"2025-01-01T{task % 24:02d}:00:00Z", "run": run,
        "task": task, "classes": classes,
        "input": {"name": "input", "shape": [-1, c, SIZE, SIZE], "dtype": "float32",
                  "layout": "NCHW", "value_range": [0.0, 1.0], "color": color, "resize": None,
                  "crop": SIZE, "interpolation": "bilinear"},
        "output": {"name": "logits", "shape": [-1, k]}, "opset": 17, "exporter": "test",
        "files": {n: _sha(folder / n) for n in [*files.values(), "golden.npz"]},
        "formats": {p: {"file": n, "requested": True, "status": "passed", "error": ""}
                    for p, n in files.items()},
        "pytorch": {"accuracy": 100.0, "n_test": n_golden}, "thresholds": {}, "versions": {},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def rehash(folder: Path) -> None:
    """Recompute the manifest's sha256/bytes after a test edited a file on purpose."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"] = {n: _sha(folder / n) for n in manifest["files"]}
    path.write_text(json.dumps(manifest, indent=2))


def tamper_same_size(path: Path) -> None:
    """Alter an ONNX file so that only sha256 can tell: same size, same outputs, other bytes.

    The graph is renamed ("tiny" -> "tinz"): protobuf writes a string of equal length in equal
    space, so size checks and the golden gate both still pass.
    """
    model = onnx.load(str(path))
    before = path.stat().st_size
    model.graph.name = model.graph.name[:-1] + chr(ord(model.graph.name[-1]) + 1)
    onnx.save(model, str(path))
    assert path.stat().st_size == before
