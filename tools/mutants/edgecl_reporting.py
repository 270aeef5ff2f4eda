"""edgecl.reporting."""
from .base import Mutant

PACKAGE = "edgecl.reporting"
MUTANTS: list = [
]
