"""runtime.cli."""
from .base import Mutant

PACKAGE = "runtime.cli"
MUTANTS: list = [
]
