"""exporters.top."""
from .base import Mutant

PACKAGE = "exporters.top"
MUTANTS: list = [
]
