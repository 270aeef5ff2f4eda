"""edgecl/pretrain: the glyph pre-training and the feature probes that judge a backbone."""
from .base import Mutant

PACKAGE = "edgecl.pretrain"
PRE = ("tests/pretrain", "tests/test_pretrain.py")
PROBE = "edgecl/pretrain/probe.py"
MUTANTS = [
    Mutant("ncm-index-not-label", "NCM returns the class's position, not its label",
           PROBE, "return (classes[sim.argmax(1)] == val_y)", "return (sim.argmax(1) == val_y)", PRE),
    Mutant("lda-bias-sign", "the LDA read-out adds +1/2 mu' P mu instead of subtracting it",
           PROBE, "b = -0.5 * (w * means).sum(1)", "b = 0.5 * (w * means).sum(1)", PRE),
    Mutant("probe-val-stats", "validation features standardised with their own statistics",
           PROBE, "return (train - mu) / sd, (val - mu) / sd",
           "return (train - mu) / sd, (val - val.mean(0, keepdim=True)) / sd", PRE),
]
