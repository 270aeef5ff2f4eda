"""edgecl's top-level modules: config/options, exporting (golden set, calibration), updating."""
from .base import CLI_CLAIMS, CLI_EXPORT, EX, REQUEST, Mutant

PACKAGE = "edgecl.top"
TOP, RANGES = "tests/test_config.py", "tests/test_config_ranges.py"
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
    Mutant("head-lr-zero-accepted", "--head-lr 0 is accepted (the new head never trains)",
           "edgecl/config.py", "return None if value > 0 else f\"--head-lr", "return None if value >= 0 else f\"--head-lr",
           (RANGES, TOP, REQUEST)),
    Mutant("weight-decay-negative", "a negative --weight-decay is accepted",
           "edgecl/config.py", "return None if value >= 0 else f\"--weight-decay", "return None if True else f\"--weight-decay",
           (RANGES, TOP, REQUEST)),
    Mutant("lambda-one-refused", "--lambda 1 (the paper's upper end) is refused",
           "edgecl/config.py", "0.0 < value <= 1.0 else", "0.0 < value < 1.0 else", (RANGES, TOP, REQUEST)),
]
