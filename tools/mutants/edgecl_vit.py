"""edgecl/vit: the backbone with its normalisation, and the incremental classifier's heads."""
from .base import LEARNING, Mutant

PACKAGE = "edgecl.vit"
VIT = "tests/vit"
CLF = "edgecl/vit/classifier.py"
MUTANTS = [
    Mutant("fold-bias-reversed", "folding the new head puts its biases before the old heads'",
           CLF, "folded.bias.copy_(torch.cat([h.bias for h in heads]))",
           "folded.bias.copy_(torch.cat([h.bias for h in heads[::-1]]))", (VIT, LEARNING)),
    Mutant("normalize-times-std", "inputs multiplied by std instead of divided",
           CLF, "return (x - self.mean) / self.std", "return (x - self.mean) * self.std", (VIT, LEARNING)),
    Mutant("fresh-norm-keeps-bias", "the fresh final LayerNorm keeps the pre-trained bias",
           "edgecl/vit/model.py", "        layer.bias.zero_()\n", "", (VIT, LEARNING)),
]
