"""Run a converted model over the golden set and every seen task's test set, then gate it.

The verdict itself (levels, thresholds) is ``edgecl_runtime.gate.evaluate_gate``; this module only
produces the two sets of logits it compares. The PyTorch reference is computed once per bundle
(:func:`reference`) and reused for every format. Test sets are batch sources
(:mod:`edgecl.exporters.sources`) streamed batch by batch, for the reference and again for each
format: only logits (N x K) and labels are kept, never the test images.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from edgecl_runtime.bundle.gate import evaluate_gate, top1_agreement
from torch import nn

from .ort_session import make_session, run_batched
from .reference import torch_logits
from .sources import BatchSource, as_source, check_batch

Runner = Callable[[np.ndarray], np.ndarray]


@dataclass
class Reference:
    """PyTorch logits for the golden inputs and for each task's test set (a batch source)."""

    golden_inputs: np.ndarray
    golden_logits: np.ndarray
    test_sets: Sequence[BatchSource]
    test_logits: list[np.ndarray]

    @property
    def labels(self) -> np.ndarray:
        return np.concatenate([s.labels for s in self.test_sets])

    @property
    def all_logits(self) -> np.ndarray:
        return np.concatenate(self.test_logits)

    def accuracy(self) -> dict[str, Any]:
        """PyTorch top-1 accuracy in percent over all tasks, and per task."""
        per_task = [float(100 * np.mean(lg.argmax(1) == s.labels))
                    for lg, s in zip(self.test_logits, self.test_sets)]
        overall = float(100 * np.mean(self.all_logits.argmax(1) == self.labels))
        return {"accuracy": overall, "per_task_accuracy": per_task, "n_test": int(len(self.labels))}


def stream_logits(run: Runner, source: BatchSource, *, check: str | None = None) -> np.ndarray:
    """``run`` over ``source`` batch by batch: logits (N, K), the only thing kept.

    ``check`` names the set in error messages and turns on the input checks (shape, [0, 1] range,
    labels as announced), done once, on the reference pass.
    """
    outs, seen = [], []
    for x, y in source.batches():
        if check is not None:
            check_batch(x, source.chw, check)
            seen.append(y)
        outs.append(np.asarray(run(x), dtype=np.float32))
    if not outs:
        raise ValueError(f"{check or 'test set'} is empty")
    logits = np.concatenate(outs)
    if len(logits) != len(source):
        raise ValueError(f"{check or 'test set'} gave {len(logits)} images, its labels say {len(source)}")
    if check is not None and not np.array_equal(np.concatenate(seen), source.labels):
        raise ValueError(f"{check}: the labels of its batches differ from the labels it announced")
    return logits


def reference(model: nn.Module, golden_inputs: np.ndarray,
              test_sets: Sequence[tuple[np.ndarray, np.ndarray] | BatchSource], *,
              batch_size: int = 64) -> Reference:
    """PyTorch logits (export mode) for the golden inputs and every test set (streamed)."""
    sources = [as_source(s, batch_size=batch_size) for s in test_sets]
    run = lambda x: torch_logits(model, x, batch_size=batch_size)  # noqa: E731
    return Reference(
        golden_inputs=golden_inputs,
        golden_logits=torch_logits(model, golden_inputs, batch_size=batch_size),
        test_sets=sources,
        test_logits=[stream_logits(run, s, check=f"task {t} test inputs") for t, s in enumerate(sources, 1)],
    )


def ort_runner(path: str | Path, *, batch_size: int = 32, threads: int | None = None) -> Runner:
    """``x -> logits`` through one ORT CPU session on ``path``, ``batch_size`` rows per call."""
    session = make_session(path, threads=threads)
    return lambda x: run_batched(session, x, batch_size=batch_size)


def gate_runner(precision: str, run: Runner, ref: Reference,
                thresholds: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Any]:
    """Gate record (``evaluate_gate``'s keys plus ``per_task_top1_agreement`` and ``n_test``).

    Level 1 uses the golden set; levels 2 and 3 use all test sets together, streamed.
    """
    golden_out = run(ref.golden_inputs)
    outs = [stream_logits(run, s) for s in ref.test_sets]
    record = evaluate_gate(precision, ref.golden_logits, golden_out, ref.all_logits,
                           np.concatenate(outs), ref.labels, thresholds=thresholds)
    record["per_task_top1_agreement"] = [top1_agreement(r, o) for r, o in zip(ref.test_logits, outs)]
    record["n_test"] = int(len(ref.labels))
    return record


def gate_onnx(precision: str, path: str | Path, ref: Reference,
              thresholds: Mapping[str, Mapping[str, float]] | None = None, *, batch_size: int = 32) -> dict[str, Any]:
    """Gate the ONNX model at ``path`` (run with ORT on the CPU) against ``ref``."""
    return gate_runner(precision, ort_runner(path, batch_size=batch_size), ref, thresholds)
