"""runtime.predict."""
from .base import Mutant

PACKAGE = "runtime.predict"
MUTANTS: list = [
]
