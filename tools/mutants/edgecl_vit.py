"""edgecl.vit."""
from .base import Mutant

PACKAGE = "edgecl.vit"
MUTANTS: list = [
]
