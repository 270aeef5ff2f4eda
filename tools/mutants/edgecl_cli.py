"""edgecl.cli."""
from .base import Mutant

PACKAGE = "edgecl.cli"
MUTANTS: list = [
]
