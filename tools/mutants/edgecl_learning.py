"""edgecl/learning: the learner, classifier alignment, the request, the driver, all-reduce."""
from .base import CLAIMS_CORE, CLI_CLAIMS, CLI_DIST, LEARNING, REQUEST, Mutant

PACKAGE = "edgecl.learning"
MUTANTS = [
    Mutant("align-skipped", "classifier alignment never runs (stats still saved)",
           "edgecl/learning/step.py",
           "    if task > 1:\n        sizes = [len(c) for c in data.tasks[:task]]",
           "    if False:\n        sizes = [len(c) for c in data.tasks[:task]]",
           (CLAIMS_CORE, "tests/learning/test_align.py", LEARNING, CLI_CLAIMS)),
    Mutant("head-lr-dropped", "the optimiser gets no head rate from the run (heads train at --lr)",
           "edgecl/learning/learner.py",
           "config.lr, config.head_lr, config.weight_decay", "config.lr, None, config.weight_decay",
           (REQUEST, LEARNING)),
    Mutant("weight-decay-dropped", "the optimiser gets no weight decay from the run",
           "edgecl/learning/learner.py",
           "config.lr, config.head_lr, config.weight_decay", "config.lr, config.head_lr, 0.0",
           (REQUEST, LEARNING)),
    Mutant("workers-unchecked", "--workers is not checked where it enters (refused later, exit 1)",
           "edgecl/learning/request.py",
           "return None if value >= 0 else f\"--workers", "return None if True else f\"--workers",
           (REQUEST, "tests/data/test_workers.py")),
    Mutant("run-json-reparsed", "rank 0 reads run.json again after opening the run",
           "edgecl/learning/driver.py",
           "    if run is None:  # ranks other than 0", "    if True:  # ranks other than 0",
           (REQUEST, CLI_CLAIMS)),
    Mutant("allreduce-noop", "all_reduce_sum_ does nothing",
           "edgecl/learning/distributed.py",
           "    if not dist.is_initialized():\n        return tensor\n",
           "    return tensor\n", (CLI_DIST, CLI_CLAIMS)),
]
