"""Run a converted model over the golden set and every seen task's test set, then gate it.

The verdict itself (levels, thresholds) is ``edgecl_runtime.bundle.gate.evaluate_gate``; this module only
produces the two sets of logits it compares and types the verdict (:class:`GateResult`). The
PyTorch reference is computed once per bundle (:func:`reference`) and reused for every format
through a :class:`ParityGate`, which builders (the INT8 searches) call instead of closures. Test
sets are batch sources (:mod:`.sources`) streamed batch by batch, for the reference and again for
each format: only logits (N x K) and labels are kept, never the test images.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from edgecl_runtime.bundle.gate import evaluate_gate, top1_agreement
from torch import nn

from .ort_session import make_session, run_batched
from .reference import torch_logits
from .sources import BatchSource, as_source, check_batch

Runner = Callable[[np.ndarray], np.ndarray]
Thresholds = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class GateSummary:
    """The four numbers of a gate run that a fallback record keeps (JSON in this key order)."""

    top1_agreement: float | None
    max_abs_diff: float | None
    accuracy_delta_pp: float | None
    passed: bool | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> "GateSummary":
        return cls(*(record.get(k) for k in ("top1_agreement", "max_abs_diff", "accuracy_delta_pp", "passed")))


@dataclass(frozen=True)
class GateResult:
    """One gate verdict as ``manifest.json`` stores it: ``evaluate_gate``'s keys, then the per-task
    top-1 agreement and the number of test images (the JSON keeps this field order)."""

    max_abs_diff: float | None
    top1_agreement: float
    accuracy: float | None
    accuracy_delta_pp: float | None
    passed: bool
    failed_levels: tuple[int, ...]
    levels_checked: tuple[int, ...]
    reason: str
    per_task_top1_agreement: tuple[float, ...] = ()
    n_test: int = 0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("failed_levels", "levels_checked", "per_task_top1_agreement"):
            out[key] = list(out[key])
        return out

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> "GateResult":
        """From a manifest's gate record (unknown keys are an error: the record changed shape)."""
        fields = dict(record)
        for key in ("failed_levels", "levels_checked", "per_task_top1_agreement"):
            fields[key] = tuple(fields.get(key) or ())
        return cls(**fields)

    def summary(self) -> "GateSummary":
        """What a fallback record keeps of each gate run."""
        return GateSummary(self.top1_agreement, self.max_abs_diff, self.accuracy_delta_pp, self.passed)

    def with_reason(self, extra: str) -> "GateResult":
        """This verdict with ``extra`` appended to its reason (a refusal's explanation)."""
        return replace(self, reason="; ".join(r for r in (self.reason, extra) if r))


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


def gate_runner(precision: str, run: Runner, ref: Reference, thresholds: Thresholds | None = None) -> GateResult:
    """The verdict of ``run`` against ``ref``: level 1 on the golden set; levels 2 and 3 on all test
    sets together, streamed."""
    golden_out = run(ref.golden_inputs)
    outs = [stream_logits(run, s) for s in ref.test_sets]
    record = evaluate_gate(precision, ref.golden_logits, golden_out, ref.all_logits,
                           np.concatenate(outs), ref.labels, thresholds=thresholds)
    record["per_task_top1_agreement"] = [top1_agreement(r, o) for r, o in zip(ref.test_logits, outs)]
    record["n_test"] = int(len(ref.labels))
    return GateResult.from_json(record)


def gate_onnx(precision: str, path: str | Path, ref: Reference, thresholds: Thresholds | None = None, *,
              batch_size: int = 32) -> GateResult:
    """Gate the ONNX model at ``path`` (run with ORT on the CPU) against ``ref``."""
    return gate_runner(precision, ort_runner(path, batch_size=batch_size), ref, thresholds)


@dataclass(frozen=True)
class ParityGate:
    """The gate of one precision against one reference and threshold table, handed to whatever
    builds that precision's file (the INT8 searches gate many candidates through it)."""

    precision: str
    ref: Reference
    thresholds: Thresholds | None = None

    def file(self, path: str | Path) -> GateResult:
        """Gate the ONNX file at ``path``."""
        return gate_onnx(self.precision, path, self.ref, self.thresholds)

    def runner(self, run: Runner) -> GateResult:
        """Gate the ``x -> logits`` function ``run`` (an in-memory candidate, an engine)."""
        return gate_runner(self.precision, run, self.ref, self.thresholds)


__all__ = ["GateResult", "GateSummary", "ParityGate", "Reference", "Runner", "gate_onnx", "gate_runner", "ort_runner",
           "reference", "stream_logits"]
