"""edgecl/run: which tasks to learn, tensors and memories on disk, the run's files."""
from .base import Mutant

PACKAGE = "edgecl.run"
RUN = "tests/run"
MUTANTS = [
    Mutant("plan-skip-task", "--task N is allowed when task N-1 is not learned",
           "edgecl/run/plan.py", "    if task > nxt:\n", "    if task > nxt + 1:\n", (RUN,)),
    Mutant("plan-relearn-unforced", "an already learned task is relearned (later tasks discarded) without --force",
           "edgecl/run/plan.py", "if task in finished and not force:", "if False:", (RUN,)),
    Mutant("memories-drop-last", "loading memories drops the last block's",
           "edgecl/run/tensors.py", "for i in range(count)]", "for i in range(count - 1)]",
           (RUN, "tests/learning/test_learning.py")),
]
