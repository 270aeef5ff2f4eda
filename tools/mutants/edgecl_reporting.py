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
           "extra = sum(phases[p] or 0.0 for p in PHASES)",
           ("tests/reporting/test_time_rows.py", REP)),
    Mutant("report-any-passed", "the report says every format passed when any one did",
           "edgecl/reporting/exports.py", "\"all_passed\": all(r[\"status\"] == \"passed\" for r in rows)",
           "\"all_passed\": any(r[\"status\"] == \"passed\" for r in rows)",
           ("tests/reporting/test_export_verdict.py", REP)),
    Mutant("report-agreement-fraction", "top-1 agreement shown as a fraction in the percent column",
           "edgecl/reporting/exports.py", "else 100.0 * agreement,", "else agreement,", (REP,)),
]
