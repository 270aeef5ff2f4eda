"""Run a converted model over the golden set and every seen task's test set, then gate it.

The verdict itself (levels, thresholds) is ``edgecl_runtime.gate.evaluate_gate``; this module only
produces the two sets of logits it compares. The PyTorch reference is computed once per bundle
(:func:`reference`) and reused for every format. Test sets are run task by task and never
concatenated, so memory stays at one copy of the caller's arrays plus logits.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from edgecl_runtime.gate import evaluate_gate, top1_agreement
from torch import nn

from .ort_session import make_session, run_batched
from .reference import torch_logits

Runner = Callable[[np.ndarray], np.ndarray]


@dataclass
class Reference:
    """PyTorch logits for the golden inputs and for each task's test inputs."""

    golden_inputs: np.ndarray
    golden_logits: np.ndarray
    test_sets: Sequence[tuple[np.ndarray, np.ndarray]]
    test_logits: list[np.ndarray]

    @property
    def labels(self) -> np.ndarray:
        return np.concatenate([np.asarray(y, dtype=np.int64) for _, y in self.test_sets])

    @property
    def all_logits(self) -> np.ndarray:
        return np.concatenate(self.test_logits)

    def accuracy(self) -> dict[str, Any]:
        """PyTorch top-1 accuracy in percent over all tasks, and per task."""
        per_task = [float(100 * np.mean(lg.argmax(1) == np.asarray(y)))
                    for lg, (_, y) in zip(self.test_logits, self.test_sets)]
        overall = float(100 * np.mean(self.all_logits.argmax(1) == self.labels))
        return {"accuracy": overall, "per_task_accuracy": per_task, "n_test": int(len(self.labels))}


def reference(model: nn.Module, golden_inputs: np.ndarray,
              test_sets: Sequence[tuple[np.ndarray, np.ndarray]], *, batch_size: int = 64) -> Reference:
    """PyTorch logits (export mode) for the golden inputs and every test set."""
    return Reference(
        golden_inputs=golden_inputs,
        golden_logits=torch_logits(model, golden_inputs, batch_size=batch_size),
        test_sets=test_sets,
        test_logits=[torch_logits(model, x, batch_size=batch_size) for x, _ in test_sets],
    )


def ort_runner(path: str | Path, *, batch_size: int = 32, threads: int | None = None) -> Runner:
    """``x -> logits`` through one ORT CPU session on ``path``, ``batch_size`` rows per call."""
    session = make_session(path, threads=threads)
    return lambda x: run_batched(session, x, batch_size=batch_size)


def gate_runner(precision: str, run: Runner, ref: Reference,
                thresholds: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Any]:
    """Gate record (``evaluate_gate``'s keys plus ``per_task_top1_agreement`` and ``n_test``).

    Level 1 uses the golden set; levels 2 and 3 use all test sets together.
    """
    golden_out = run(ref.golden_inputs)
    outs = [run(x) for x, _ in ref.test_sets]
    record = evaluate_gate(precision, ref.golden_logits, golden_out, ref.all_logits,
                           np.concatenate(outs), ref.labels, thresholds=thresholds)
    record["per_task_top1_agreement"] = [top1_agreement(r, o) for r, o in zip(ref.test_logits, outs)]
    record["n_test"] = int(len(ref.labels))
    return record


def gate_onnx(precision: str, path: str | Path, ref: Reference,
              thresholds: Mapping[str, Mapping[str, float]] | None = None, *, batch_size: int = 32) -> dict[str, Any]:
    """Gate the ONNX model at ``path`` (run with ORT on the CPU) against ``ref``."""
    return gate_runner(precision, ort_runner(path, batch_size=batch_size), ref, thresholds)
