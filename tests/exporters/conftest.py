"""Fixtures for the exporter tests: a tiny ViT trained for a few seconds on synthetic classes.

A trained model matters: with random weights the logits of all classes are nearly equal, so top-1
agreement (gate level 2) would hinge on ties. A few dozen steps on well-separated synthetic classes
give confident, realistic margins; the test sets are from the same generator, held out.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from edgecl.exporters import ExportData, ExportRequest, Int8Options, export_bundle
from edgecl.exporters.parity import GateResult
from edgecl.vit.model import Normalized, create_vit
from tests.factory import TINY

NUM_CLASSES = 4
CLASSES_PER_TASK = 2


def export_setup(setup, out, **kwargs):
    """``export_with`` on the shared trained ``setup`` (task 2 of run "r"); ``kwargs`` override."""
    args = dict(classes=setup.classes, input_spec=setup.spec, golden=setup.golden,
                test_sets=setup.test_sets, calib=setup.calib, run_name="r", task=2)
    return export_with(setup.model, out, **{**args, **kwargs})


def export_with(model, out, *, classes, input_spec, test_sets, golden=None, calib=None, deepstream_sets=None,
                int8_options=None, formats=frozenset(), **request):
    """``export_bundle`` with the request and the data given as keywords (the fields of
    :class:`ExportRequest` and :class:`ExportData`; ``int8_options`` as a mapping)."""
    req = ExportRequest(classes, input_spec, frozenset(formats), Int8Options.from_mapping(int8_options), **request)
    return export_bundle(model, out, req, ExportData(test_sets, golden, calib, deepstream_sets))


def verdict(passed: bool, top1_agreement: float = 1.0, max_abs_diff: float = 0.1, reason: str = "",
            accuracy_delta_pp: float = 0.0) -> GateResult:
    """A stand-in gate verdict for tests that fake the gate."""
    return GateResult(max_abs_diff, top1_agreement, None, accuracy_delta_pp, passed, (), (1, 2, 3), reason)


class FakeGate:
    """A :class:`~edgecl.exporters.parity.ParityGate` stand-in: ``decide(candidate)`` -> verdict, for
    files (``file``) and in-memory runners (``runner``) alike."""

    def __init__(self, decide):
        self.decide = decide

    def file(self, path):
        return self.decide(path)

    def runner(self, run):
        return self.decide(run)


def tiny_model(num_classes: int = NUM_CLASSES, seed: int = 0) -> Normalized:
    """Untrained tiny ViT wrapped with normalisation (mean 0.5, std 0.25)."""
    torch.manual_seed(seed)
    return Normalized(create_vit("vit_tiny_patch16_224", num_classes, TINY), [0.5], [0.25])


def synthetic(n_per_class: int, seed: int, num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """(inputs float32 (N,1,28,28) in [0,1], labels int64): a fixed template per class + noise."""
    templates = np.random.default_rng(1234).random((num_classes, 1, 28, 28), dtype=np.float32)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), n_per_class)
    x = templates[labels] + rng.normal(0, 0.3, (len(labels), 1, 28, 28)).astype(np.float32)
    return np.clip(x, 0, 1).astype(np.float32), labels.astype(np.int64)


def train(model: Normalized, x: np.ndarray, y: np.ndarray, steps: int = 40) -> Normalized:
    """Plain AdamW steps on random mini-batches; returns the model in eval mode."""
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@dataclass
class Setup:
    model: Normalized
    test_sets: list[tuple[np.ndarray, np.ndarray]]
    calib: np.ndarray
    golden: tuple[np.ndarray, np.ndarray, np.ndarray]
    spec: dict
    classes: list[str]


def task_split(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Class-incremental tasks of CLASSES_PER_TASK classes each."""
    tasks = y // CLASSES_PER_TASK
    return [(x[tasks == t], y[tasks == t]) for t in range(int(tasks.max()) + 1)]


@contextlib.contextmanager
def one_thread():
    """Torch on one thread: on the shared 2-core machine, 2 threads ran 60x slower under load."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def setup() -> Setup:
    from edgecl.exporters.parity.golden import select_golden

    x, y = synthetic(150, seed=1)
    with one_thread():
        model = train(tiny_model(), x, y)
    tx, ty = synthetic(60, seed=2)
    test_sets = task_split(tx, ty)
    spec = {"name": "input", "shape": [-1, 1, 28, 28], "dtype": "float32", "layout": "NCHW",
            "value_range": [0.0, 1.0], "color": "L", "resize": None, "crop": 28, "interpolation": "bilinear"}
    return Setup(model, test_sets, x[::3].copy(), select_golden(test_sets, n=32), spec,
                 [str(i) for i in range(NUM_CLASSES)])
