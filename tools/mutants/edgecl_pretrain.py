"""edgecl.pretrain."""
from .base import Mutant

PACKAGE = "edgecl.pretrain"
MUTANTS: list = [
]
