"""The runtime's floors: every module imports only from lower floors (or its own package), never torch/edgecl.

Why: a flat runtime drifts into long import chains and modules that import "up" (the TensorRT
builder once reached into the gate).  The floors make the direction explicit; this test reads every
module's source with ``ast`` (so imports inside functions count too, and nothing is executed) and
fails on an import from a higher floor, from another package on the same floor, on more than
``MAX_FLOORS`` floors, or on any import of torch or the trainer package.
"""
from __future__ import annotations

import ast
from pathlib import Path

import edgecl_runtime

ROOT = Path(edgecl_runtime.__file__).resolve().parent
PKG = "edgecl_runtime"
MAX_FLOORS = 6
# Top-level unit (a ground module, a package, or cli) -> floor.  Ground modules are the root
# package's own (they may import one another); a package's modules may import one another.
FLOORS = {
    "": 1, "contract": 1, "errors": 1, "atomic_io": 1, "strict_json": 1, "safetensors_read": 1,
    "inputs": 2, "backends": 2,
    "bundle": 3,
    "predict": 4, "update": 4,
    "serve": 5,
    "cli": 6,
}
GROUND = {unit for unit, floor in FLOORS.items() if floor == 1}
FORBIDDEN = ("torch", "edgecl")  # "edgecl" also covers edgecl.exporters; edgecl_runtime is a different name


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PKG, *parts])


def unit_of(module: str) -> str:
    """The floor unit of a runtime module: '' for the root package, else its first name below it."""
    rest = module[len(PKG):].lstrip(".")
    return rest.split(".")[0] if rest else ""


def imported_modules(path: Path, module: str, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in ``path``, relative ones resolved."""
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from . import x`` imports the module x when there is one
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub.startswith(PKG) and _exists(sub, root):
                    found.append((node.lineno, sub))
    return found


def _exists(module: str, root: Path = ROOT) -> bool:
    rel = Path(*module.split(".")[1:])
    if not module.split(".")[1:]:
        return (root / "__init__.py").is_file()
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def violations(root: Path = ROOT) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        unit = unit_of(module)
        if unit not in FLOORS:
            problems.append(f"{module}: no floor assigned to {unit!r} (add it to FLOORS)")
            continue
        floor = FLOORS[unit]
        for line, target in imported_modules(path, module, root):
            top = target.split(".")[0]
            if top in FORBIDDEN:
                problems.append(f"{module}:{line} imports {target} (the runtime is torch- and edgecl-free)")
                continue
            if top != PKG:
                continue
            if not _exists(target, root):
                problems.append(f"{module}:{line} imports {target}, which is no runtime module")
                continue
            t_unit = unit_of(target)
            if t_unit not in FLOORS:
                problems.append(f"{module}:{line} imports {target}: no floor assigned to {t_unit!r}")
                continue
            t_floor = FLOORS[t_unit]
            same_package = t_unit == unit or (unit in GROUND and t_unit in GROUND)
            if t_floor > floor or (t_floor == floor and not same_package):
                problems.append(f"{module}:{line} (floor {floor}) imports {target} (floor {t_floor})")
    return problems


def test_every_import_goes_down_a_floor_or_stays_in_its_package():
    assert violations() == []


def test_at_most_six_floors_and_every_module_placed():
    assert len(set(FLOORS.values())) <= MAX_FLOORS
    assert max(FLOORS.values()) <= MAX_FLOORS
    units = {unit_of(module_name(p)) for p in ROOT.rglob("*.py")}
    assert units <= set(FLOORS), units - set(FLOORS)


def test_lazy_facade_names_existing_modules():
    """The root's lazy attributes are resolved on access, not by an import statement: check them here."""
    for name, module in edgecl_runtime._LAZY.items():
        assert _exists(f"{PKG}.{module}"), (name, module)


def test_an_upward_import_is_caught(tmp_path):
    """The checker itself bites: a planted wrong-direction import (inside a function) is reported."""
    import shutil

    copy = tmp_path / PKG
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    errors = copy / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _planted():\n    from .serve import ModelServer\n")
    torchy = copy / "inputs" / "images.py"
    torchy.write_text(torchy.read_text() + "\n\ndef _planted():\n    import torch\n")
    sideways = copy / "predict" / "bench.py"
    sideways.write_text(sideways.read_text() + "\nfrom ..update import apply_update\n")
    typo = copy / "serve" / "lines.py"
    typo.write_text(typo.read_text() + "\nfrom ..bundles import load_bundle\n")
    found = "\n".join(violations(copy))
    assert "edgecl_runtime.errors" in found and "floor 1) imports edgecl_runtime.serve" in found
    assert "edgecl_runtime.inputs.images" in found and "imports torch" in found
    assert "edgecl_runtime.predict.bench" in found and "(floor 4) imports edgecl_runtime.update (floor 4)" in found
    assert "imports edgecl_runtime.bundles, which is no runtime module" in found

