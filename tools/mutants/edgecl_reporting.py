"""edgecl/reporting: the run report (collect, tables, plots)."""
from .base import Mutant

PACKAGE = "edgecl.reporting"
REP = "tests/reporting"
COLLECT = "edgecl/reporting/collect.py"
MUTANTS = [
    Mutant("report-stale-metrics", "a metrics.json that lists other tasks than are on disk is used as is",
           COLLECT, "if metrics is not None and metrics.get(\"tasks_done\") == len(per_task):",
           "if metrics is not None:", (REP,)),
    Mutant("report-extra-share-all", "InfLoRA's extra time share counts every phase (always 100 %)",
           COLLECT, "extra = sum(phases[p] or 0.0 for p in INFLORA_EXTRA)",
           "extra = sum(phases[p] or 0.0 for p in PHASES)", (REP,)),
]
