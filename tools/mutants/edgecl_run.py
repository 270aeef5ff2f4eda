"""edgecl.run."""
from .base import Mutant

PACKAGE = "edgecl.run"
MUTANTS: list = [
]
