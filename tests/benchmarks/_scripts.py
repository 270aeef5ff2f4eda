"""Load a script of ``benchmarks/`` as a module, its sibling scripts importable while it loads."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def load_script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` executed as module ``name`` (not registered in ``sys.modules``)."""
    sys.path.insert(0, str(BENCH))  # the scripts import their siblings (timing.py, bench_profile.py)
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))
