"""runtime.backends."""
from .base import Mutant

PACKAGE = "runtime.backends"
MUTANTS: list = [
]
