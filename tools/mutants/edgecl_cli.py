"""edgecl/cli: the edgecl commands' error lines, exit codes and printed summaries."""
from .base import Mutant

PACKAGE = "edgecl.cli"
CON = ("tests/cli/test_console_contract.py", "tests/cli/test_errors.py")
CONSOLE = "edgecl/cli/console.py"
MUTANTS = [
    Mutant("exit-code-flattened", "every EdgeclError exits 1 (bad command lines must exit 2)",
           CONSOLE, "raise typer.Exit(exc.exit_code) from None", "raise typer.Exit(1) from None", CON),
    Mutant("traceback-always", "unexpected errors show the traceback without EDGECL_DEBUG=1",
           CONSOLE, "if os.environ.get(\"EDGECL_DEBUG\") == \"1\":", "if True:", CON),
    Mutant("failed-formats-unlisted", "the export summary does not list the formats that failed",
           CONSOLE, "if status not in (None, \"passed\"):", "if status is None:", CON),
    Mutant("status-updates-hidden", "edgecl status does not list the over-the-air updates learn wrote",
           "edgecl/cli/status.py", "    if updates:\n", "    if False:\n", ("tests/cli/test_learn_updates.py",)),
    Mutant("learn-no-update", "learn skips the update after a task's export although the run asks for it",
           "edgecl/learning/driver.py", "    if run.config.updates and task > 1", "    if False and task > 1",
           ("tests/cli/test_learn_updates.py",)),
]
