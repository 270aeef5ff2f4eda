"""runtime/edgecl_runtime/cli.py: edgecl-rt's commands and exit codes."""
from .base import RT, Mutant

PACKAGE = "runtime.cli"
CLI = "tests/runtime/test_cli.py"
SRC = "runtime/edgecl_runtime/cli/_device.py"
SERVING = "runtime/edgecl_runtime/cli/_serving.py"
MUTANTS = [
    Mutant("verify-exit-0", "edgecl-rt verify exits 0 when the gate fails",
           SRC, "    if not rec[\"passed\"]:\n        raise typer.Exit(1)", "    if False:\n        raise typer.Exit(1)",
           (CLI, RT)),
    Mutant("predict-one-bad-exit-1", "predict exits 1 when any image is bad (partial results are exit 0)",
           SERVING, "if not any(\"predictions\" in r for r in records):",
           "if not all(\"predictions\" in r for r in records):", (CLI, RT)),
    Mutant("verify-ignores-trust", "edgecl-rt verify --trust does not check the signature",
           SRC, "trusted=keys, record=record,", "trusted=None, record=record,", (CLI, RT)),
    Mutant("refit-ungated", "a refitted engine is kept without the golden gate on the new bundle",
           "runtime/edgecl_runtime/cli/_engine.py",
           "        if rec[\"passed\"]:\n            out.print(escape(f\"engine: {path} (refitted",
           "        if True:\n            out.print(escape(f\"engine: {path} (refitted",
           ("tests/ota/test_update_refit.py",)),
]
