"""The parity gate's inputs and runs: image sets as batch sources, stratified sampling, the golden
set, PyTorch's reference logits, ONNX Runtime sessions and the typed verdict of every format."""
from __future__ import annotations

from .._lazy import lazy_names

_WHERE = {
    "BatchSource": "sources", "array_source": "sources", "as_source": "sources", "check_batch": "sources",
    "stratified_sample": "sampling", "split_quota": "sampling",
    "select_golden": "golden", "write_golden": "golden", "read_golden": "golden", "DEFAULT_GOLDEN": "golden",
    "export_mode": "reference", "torch_logits": "reference",
    "GateResult": "gate", "GateSummary": "gate", "ParityGate": "gate", "Reference": "gate", "reference": "gate",
    "gate_onnx": "gate", "gate_runner": "gate", "ort_runner": "gate", "stream_logits": "gate",
    "make_session": "ort_session", "run_batched": "ort_session", "onnx_logits": "ort_session",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_names(__name__, _WHERE)
