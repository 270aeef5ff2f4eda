"""The ``edgecl`` command line: one Typer app, one module per command (this file only wires them).

Exit codes (the same for ``edgecl-rt``): 0 done; 1 the command could not do its job (corrupt or
locked store, missing data, a format failed its gate); 2 the command line is wrong.
"""
from __future__ import annotations

import typer

from edgecl.cli.export import export
from edgecl.cli.keygen import keygen
from edgecl.cli.learn import learn
from edgecl.cli.pretrain import pretrain_command
from edgecl.cli.report import report_command
from edgecl.cli.status import status

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Continual learning (InfLoRA) for edge devices: learn task by task, export, verify.")
app.command("learn")(learn)
app.command("status")(status)
app.command("export")(export)
app.command("pretrain")(pretrain_command)
app.command("report")(report_command)
app.command("keygen")(keygen)


def main() -> None:
    app()
