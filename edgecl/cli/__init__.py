"""The ``edgecl`` command line (Typer): parses options, calls the library, prints."""
from edgecl.cli.app import app, main

__all__ = ["app", "main"]
