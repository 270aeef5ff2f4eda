"""``edgecl keygen``: a new Ed25519 key pair for signing bundles, and how a fleet pins it."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from edgecl_runtime.errors import BundleError
from edgecl_runtime.bundle.signing import generate_keypair

from edgecl.cli.console import console, one_line_errors
from edgecl.errors import UsageError


@one_line_errors
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Folder for edgecl-sign.key (private, 0600) and edgecl-sign.pub.")],
) -> None:
    """Write a signing key pair: the private key signs bundles (--sign-key), devices trust the public one."""
    try:
        private, public = generate_keypair(out)
    except BundleError as exc:  # the folder already holds a key: never overwrite one silently
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write a key pair into {out} ({exc.strerror or exc}): choose a writable folder") from None
    console.print(f"private key: {private} (mode 0600: keep it on the training machine, never in a bundle)")
    console.print(f"public key:  {public}")
    console.print(f"sign: `edgecl learn --sign-key {private}` (kept in run.json) or `edgecl export --sign-key {private}`")
    console.print(f"pin on every device: copy {public.name} there and run `edgecl-rt verify|serve --trust PATH` "
                  "(a file, or a folder of *.pub files: any of them may sign, for key rotation)")
