"""``edgecl-rt``: build, verify, predict, bench and serve export bundles on a device.

Exit codes: 0 success; 1 the command could not do its job (invalid, unreadable or untrusted
bundle, verification failed, TensorRT missing, no image classified); 2 bad command-line usage
(Typer).

Trust: ``--trust KEY_OR_DIR`` makes verify/build/predict/bench refuse a bundle whose
``manifest.sig`` is missing or not made by one of the keys; without it they run as before and
print one warning line. The gate's thresholds are the runtime's (``--thresholds FILE`` lets the
operator of this device change them); a bundle's own are ignored.
``predict`` reports each bad image on its own stderr line (and in ``--json``) and still exits 0
when at least one image was classified: a folder with one stray file should not fail a batch.

No ``from __future__ import annotations`` here: Typer reads the ``Annotated`` parameter
metadata at runtime, and on Python 3.8 (JetPack 5) string annotations lose it.
"""
import typer

from .. import __version__
from . import _device, _serving  # noqa: F401  (their commands register on the app)
from ._common import Precision, app

__all__ = ["Precision", "app", "main"]


@app.command()
def version() -> None:
    """Print the runtime version."""
    typer.echo(f"edgecl-rt {__version__}")


def main() -> None:
    """Console-script entry point."""
    app()
