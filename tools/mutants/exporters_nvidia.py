"""exporters.nvidia."""
from .base import Mutant

PACKAGE = "exporters.nvidia"
MUTANTS: list = [
]
