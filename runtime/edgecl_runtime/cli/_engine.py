"""``edgecl-rt update --engine PLAN``: carry this device's TensorRT engine over an update.

Refit when the engine allows it (:mod:`edgecl_runtime.backends.trt.refit`), gate the refitted engine
on the new bundle's golden data, and only then keep it; otherwise (a refusal, a failed refit, a failed
gate) say why in one line and build a new engine with the options the old one was built with.
"""
from pathlib import Path
from typing import Any, Dict, Tuple

import typer
from rich.markup import escape

from ._common import _error, _timing_cache_dir, out


def _options(record: Dict[str, Any]) -> Any:
    """Build options of the engine ``record`` describes (batches, refittable head, DLA target)."""
    from ..backends.trt.build import BuildOptions
    from ..backends.trt.dla import DlaSettings
    from ..backends.trt.head_pad import DEFAULT_CAPACITY

    return BuildOptions(max_batch=int(record.get("max_batch") or 8), opt_batch=int(record.get("opt_batch") or 1),
                        cache_dir=_timing_cache_dir(), dla=DlaSettings(record.get("dla_core"), bool(record.get("gpu_fallback"))),
                        refittable=bool(record.get("refittable")),
                        head_capacity=int(record.get("head_capacity") or DEFAULT_CAPACITY))


def carry_engine(base: Path, new: Path, plan: Path, record: Dict[str, Any], proof: Tuple[Any, Any]) -> Path:
    """Refit or rebuild ``plan`` (built for ``base``) for the updated bundle ``new``; gated; returns its path.
    ``proof``: trusted keys and operator thresholds, as for the update itself."""
    from ..backends.trt.build import build_engine, remove_plan
    from ..backends.trt.compat import import_tensorrt
    from ..backends.trt.refit import RefitJob, refit_for_update
    from ..bundle.read import load_bundle
    from ..bundle.verify import verify_bundle

    keys, table = proof
    trt, precision = import_tensorrt(), str(record["precision"])
    new_bundle = load_bundle(new, trusted=keys)
    log = lambda s: typer.echo(s, err=True)  # noqa: E731
    path, why = refit_for_update(RefitJob(plan, load_bundle(base, trusted=keys), new_bundle), trt, log)
    if path is not None:
        rec = verify_bundle(new, "trt", precision, table, trusted=keys, engine=path)
        if rec["passed"]:
            out.print(escape(f"engine: {path} (refitted; {precision} golden gate passed)"))
            return path
        remove_plan(path)
        why = f"the refitted engine failed the {precision} golden gate ({rec['reason']})"
    typer.echo(f"edgecl-rt: not refitted: {why}; building a new engine", err=True)
    path = build_engine(new_bundle, precision, _options(record), log=log)
    rec = verify_bundle(new, "trt", precision, table, trusted=keys, engine=path)
    if not rec["passed"]:
        remove_plan(path)
        _error(f"the new {precision} engine failed verification and was deleted: {rec['reason']}")
        raise typer.Exit(1)
    out.print(escape(f"engine: {path} (built; {precision} golden gate passed)"))
    return path
