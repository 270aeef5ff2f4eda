"""exporters.onnx."""
from .base import Mutant

PACKAGE = "exporters.onnx"
MUTANTS: list = [
]
