"""edgecl's top-level modules: config/options, exporting (golden set, calibration), updating."""
from .base import CLI_CLAIMS, CLI_EXPORT, EX, Mutant

PACKAGE = "edgecl.top"
MUTANTS = [
    Mutant("golden-last-task", "golden set drawn from the last task's test set only",
           "edgecl/exporting.py",
           "select_golden(test_sets, seed=config.seed)",
           "select_golden(test_sets[-1:], seed=config.seed)", (CLI_CLAIMS, EX, CLI_EXPORT)),
    Mutant("calib-last-task", "INT8 calibration images from the last task only",
           "edgecl/exporting.py",
           'idx = np.concatenate([data.indices("train", j) for j in range(1, task + 1)])',
           'idx = np.concatenate([data.indices("train", j) for j in range(task, task + 1)])',
           (CLI_CLAIMS, EX, CLI_EXPORT)),
]
