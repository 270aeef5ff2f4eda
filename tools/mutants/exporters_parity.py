"""exporters.parity."""
from .base import Mutant

PACKAGE = "exporters.parity"
MUTANTS: list = [
]
