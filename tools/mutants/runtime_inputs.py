"""runtime.inputs."""
from .base import Mutant

PACKAGE = "runtime.inputs"
MUTANTS: list = [
]
