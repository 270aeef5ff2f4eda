"""The record of one planted bug, and the test paths several packages share."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    """One bug: ``original`` (found exactly once in ``path``) becomes ``replacement``.

    ``tests`` are test files/folders run in this order with ``-x``; ``package`` is filled in from
    the module that lists the mutant.
    """
    id: str
    description: str
    path: str  # relative to the repository root
    original: str  # must occur exactly once in the file
    replacement: str
    tests: tuple[str, ...]
    package: str = ""


RT, EX, DATA = "tests/runtime", "tests/exporters", "tests/data"
INFLORA, LEARNING = "tests/inflora", "tests/learning"
REQUEST = "tests/learning/test_request.py"
CLI_EXPORT, CLI_CLAIMS = "tests/cli/test_export_cli.py", "tests/cli/test_learn_outcomes.py"
CLI_DIST = "tests/cli/test_distributed.py"
GATE, CLAIMS_CORE = "tests/runtime/bundle/test_gate.py", "tests/learning/test_interference.py"
MEMORY, DESIGN = "tests/inflora/test_memory.py", "tests/inflora/test_design_merge.py"
