"""The mutants of ``tools/mutation_check.py``, one module per package of the project.

Each module names its ``PACKAGE`` (dotted, as ``--package`` matches it: ``runtime.serve``,
``exporters.quantize``, ``edgecl.learning``) and a list ``MUTANTS`` of :class:`Mutant`; its
``tests`` are that package's mirror folder under ``tests/`` (the targeted set, run with ``-x``),
where one file kills the mutant it is named first, so a kill is quick.  :data:`ALL` is every
mutant in package order, each carrying its module's package.
"""
from __future__ import annotations

import dataclasses
import importlib

from .base import Mutant

MODULES = (
    "runtime_ground", "runtime_bundle", "runtime_serve", "runtime_update", "runtime_inputs",
    "runtime_backends", "runtime_predict", "runtime_cli",
    "exporters_onnx", "exporters_quantize", "exporters_parity", "exporters_nvidia", "exporters_top",
    "edgecl_top", "edgecl_cli", "edgecl_data", "edgecl_inflora", "edgecl_learning",
    "edgecl_reporting", "edgecl_run", "edgecl_vit", "edgecl_pretrain", "benchmarks",
)


def _collect() -> list[Mutant]:
    out: list[Mutant] = []
    for name in MODULES:
        mod = importlib.import_module(f"{__name__}.{name}")
        out += [dataclasses.replace(m, package=mod.PACKAGE) for m in mod.MUTANTS]
    return out


ALL: list[Mutant] = _collect()


def matches(package: str, wanted: str) -> bool:
    """``wanted`` names ``package`` or a dotted prefix of it (``runtime`` matches ``runtime.serve``)."""
    return package == wanted or package.startswith(wanted + ".")
