"""The Typer app of ``edgecl-rt`` and what its commands share: options, trust, thresholds, errors.

No ``from __future__ import annotations`` here: Typer reads the ``Annotated`` parameter
metadata at runtime, and on Python 3.8 (JetPack 5) string annotations lose it.
"""
import os
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..contract import CPU_ONLY_PRECISIONS, PRECISIONS
from ..errors import RuntimeFailure

try:
    from typing import Annotated
except ImportError:  # Python 3.8 (JetPack 5 / TensorRT 8.5): typer depends on typing_extensions
    from typing_extensions import Annotated

app = typer.Typer(name="edgecl-rt", add_completion=False, no_args_is_help=True,
                  help="Torch-free device runtime for edgecl export bundles.")
out = Console(highlight=False, soft_wrap=True)


class BackendName(str, Enum):
    ort = "ort"
    trt = "trt"


Precision = Enum("Precision", {p: p for p in PRECISIONS}, type=str)  # the contract's precisions, one word each
_CPU_ONLY = CPU_ONLY_PRECISIONS[0]  # the ONNX Runtime CPU file: `build` names it only to refuse it


BundleArg = Annotated[Path, typer.Argument(help="Bundle folder (RUN/task-NN/export).")]
BackendOpt = Annotated[BackendName, typer.Option("--backend", "-b", help="Inference backend.")]
PrecisionOpt = Annotated[Precision, typer.Option("--precision", "-p", help="Model precision.")]
TrustOpt = Annotated[Optional[Path], typer.Option(
    "--trust", help="Public key file, or folder of *.pub keys: refuse bundles not signed by one of them.")]


SERVE_UNTRUSTED = ("edgecl-rt serve: warning: no --trust: signatures are not checked, so whoever can write to "
                   "MODELS_DIR can replace a model together with its golden set and it will pass the gate and be "
                   "served; pass --trust KEY (docs/THREAT_MODEL.md)")


def _trusted(trust: Optional[Path]) -> Optional[List[Any]]:
    """The trusted public keys, or None with one warning line when no --trust was given."""
    if trust is None:
        typer.echo("edgecl-rt: warning: bundle signatures are not checked (no --trust)", err=True)
        return None
    from ..bundle.signing import load_trust

    return load_trust(trust)


AllowFailedOpt = Annotated[Optional[List[Precision]], typer.Option(
    "--allow-failed-format", help="Run this format although its export status is not passed "
                                  "(repeatable); without it such a format is refused.")]


def _allowed(formats: Optional[List[Any]]) -> List[str]:
    """The format names the operator lets run despite a failed export status."""
    return [f.value for f in formats or []]


ThresholdsOpt = Annotated[Optional[Path], typer.Option(
    "--thresholds", help="Operator's gate thresholds: JSON {precision: {key: value}} over the "
                         "runtime defaults (a bundle's own thresholds are ignored).")]


def _operator_thresholds(path: Optional[Path]) -> Optional[Dict[str, Any]]:
    """The --thresholds file's table, or None for the runtime defaults."""
    if path is None:
        return None
    from ..bundle.verify import load_thresholds

    return load_thresholds(path)


def _timing_cache_dir(given: Optional[Path] = None) -> Path:
    """Where TensorRT timing caches live: ``given``, else $EDGECL_RT_CACHE, else ~/.cache/edgecl-rt."""
    return given or Path(os.environ.get("EDGECL_RT_CACHE", Path.home() / ".cache/edgecl-rt"))


def _error(msg: str) -> None:
    typer.echo(f"edgecl-rt: error: {' '.join(str(msg).split())}", err=True)


@contextmanager
def _failures() -> Iterator[None]:
    """Turn a RuntimeFailure (or a file this user may not read) into one stderr line, exit 1."""
    try:
        yield
    except RuntimeFailure as exc:
        _error(str(exc))
        raise typer.Exit(1) from None
    except PermissionError as exc:
        _error(f"cannot read {exc.filename or 'a file'}: permission denied; give the user running "
               "edgecl-rt read access to it")
        raise typer.Exit(1) from None


def _fmt(x: Any, spec: str = ".3g") -> str:
    return "-" if x is None else format(x, spec) if isinstance(x, float) else str(x)


def _print_verification(rec: Dict[str, Any]) -> None:
    from ..bundle.gate import DEFAULT_THRESHOLDS

    thr = rec.get("thresholds") or DEFAULT_THRESHOLDS[rec["precision"]]
    gate = rec.get("gate") or {}
    table = Table(title=escape(f"verify {rec['bundle']} [{rec['backend']} {rec['precision']}]"))
    for col in ("check", "value", "limit", "result"):
        table.add_column(col)
    files = rec.get("files", {})
    table.add_row("sha256 of listed files", f"{files.get('checked', 0)} files", "all match",
                  "ok" if files.get("ok") else "FAIL")
    if gate:
        table.add_row("1: max |dlogit| (golden)", _fmt(gate["max_abs_diff"]),
                      f"<= {thr['max_abs_diff']:g}", "FAIL" if 1 in gate["failed_levels"] else "ok")
        table.add_row("2: top-1 agreement (golden)", _fmt(gate["top1_agreement"], ".4f"),
                      f">= {thr['top1_agreement']:g}", "FAIL" if 2 in gate["failed_levels"] else "ok")
    out.print(table)
    out.print(escape(f"device: {rec.get('device', {}).get('device', '-')}"))
    out.print("PASSED" if rec["passed"] else escape(f"FAILED: {rec['reason']}"))


