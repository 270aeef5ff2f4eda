"""This machine's GEMM peak as ONNX Runtime reaches it: one MatMul timed in this process.

Why: "how close is a model to what this CPU can do" needs the CPU's own number, measured with the
same library, threads and precision as the model (a datasheet peak counts FMA units the kernels
may never fill; a numpy probe would measure another BLAS). The probe is a single square
``(n, n) x (n, n)`` MatMul with a constant weight, built here as ONNX bytes (the runtime does not
depend on the ``onnx`` package, so the few protobuf fields are written by hand):

* ``fp32``: ``MatMul`` on float32 (MLAS SGEMM);
* ``fp16``: ``MatMul`` on float16 (ONNX Runtime runs it natively or with inserted casts, exactly as
  it runs an FP16 model's MatMuls);
* ``int8`` / ``int8cpu``: ``com.microsoft.DynamicQuantizeMatMul`` with an int8 weight, the kernel
  ONNX Runtime fuses the CPU INT8 file's MatMuls into (uint8 activations quantised per call).

Peak = ``2 n^3`` FLOPs over the median of ``reps`` timed calls after ``warmup`` untimed ones.
"""
from __future__ import annotations

import time
from typing import Dict, Sequence

import numpy as np

FLOAT, UINT8, INT8, FLOAT16 = 1, 2, 3, 10  # onnx.TensorProto data types
PROBE_N = 512


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # negative int64 as two's complement
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _msg(field: int, payload: "bytes | str") -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint((field << 3) | 2) + _varint(len(data)) + data


def _tensor(name: str, array: np.ndarray, dtype: int) -> bytes:
    dims = b"".join(_int(1, d) for d in array.shape)
    return dims + _int(2, dtype) + _msg(8, name) + _msg(9, np.ascontiguousarray(array).tobytes())


def _value_info(name: str, dtype: int, shape: Sequence[int]) -> bytes:
    dims = b"".join(_msg(1, _int(1, d)) for d in shape)
    tensor_type = _int(1, dtype) + _msg(2, dims)
    return _msg(1, name) + _msg(2, _msg(1, tensor_type))


def _node(op: str, inputs: Sequence[str], outputs: Sequence[str], domain: str = "") -> bytes:
    body = b"".join(_msg(1, i) for i in inputs) + b"".join(_msg(2, o) for o in outputs)
    body += _msg(3, f"probe_{op}") + _msg(4, op)
    return body + (_msg(7, domain) if domain else b"")


def probe_model(precision: str, n: int = PROBE_N, seed: int = 0) -> bytes:
    """The probe as ONNX model bytes: input ``x`` (n, n), constant weight, output ``y``."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, n)).astype(np.float32)
    if precision in ("int8", "int8cpu"):
        inits = (_msg(5, _tensor("w", np.clip(np.round(w * 32), -127, 127).astype(np.int8), INT8))
                 + _msg(5, _tensor("w_scale", np.array(1 / 32, np.float32), FLOAT))
                 + _msg(5, _tensor("w_zero", np.array(0, np.int8), INT8)))
        node = _node("DynamicQuantizeMatMul", ("x", "w", "w_scale", "w_zero"), ("y",), "com.microsoft")
        io_type = FLOAT
    else:
        io_type = FLOAT16 if precision == "fp16" else FLOAT
        inits = _msg(5, _tensor("w", w.astype(np.float16 if io_type == FLOAT16 else np.float32), io_type))
        node = _node("MatMul", ("x", "w"), ("y",))
    graph = (_msg(1, node) + _msg(2, "gemm_probe") + inits
             + _msg(11, _value_info("x", io_type, (n, n))) + _msg(12, _value_info("y", io_type, (n, n))))
    opsets = _msg(8, _msg(1, "") + _int(2, 17)) + _msg(8, _msg(1, "com.microsoft") + _int(2, 1))
    return _int(1, 8) + opsets + _msg(7, graph)


def gemm_peak(precision: str, threads: int = 0, n: int = PROBE_N, reps: int = 7,
              chunk_s: float = 0.0) -> Dict[str, float]:
    """``{"gflops", "n", "ms"}``: the probe's FLOP rate on ONNX Runtime CPU at ``threads``
    (0: ONNX Runtime's default), median of ``reps`` timed chunks.

    A chunk repeats the call for about ``chunk_s`` seconds (at least once): pass the model's call
    time, so that the probe and the model run in stretches of the same length and a shared
    machine's scheduler slices both alike (a 1 ms probe call otherwise fits between other jobs'
    time slices that a 30 ms model call does not).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    session = ort.InferenceSession(probe_model(precision, n), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).random((n, n), dtype=np.float32)
    feed = {"x": x.astype(np.float16) if precision == "fp16" else x}
    start = time.perf_counter()
    for _ in range(2):  # warm-up: weight pre-packing, allocations
        session.run(None, feed)
    inner = max(1, int(round(chunk_s / ((time.perf_counter() - start) / 2))))
    times = []
    for _ in range(max(1, reps)):
        start = time.perf_counter()
        for _ in range(inner):
            session.run(None, feed)
        times.append((time.perf_counter() - start) / inner)
    seconds = float(np.median(times))
    return {"gflops": 2.0 * n ** 3 / seconds / 1e9, "n": float(n), "ms": seconds * 1e3}


__all__ = ["gemm_peak", "probe_model", "PROBE_N"]
