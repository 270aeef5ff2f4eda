"""exporters.quantize."""
from .base import Mutant

PACKAGE = "exporters.quantize"
MUTANTS: list = [
]
