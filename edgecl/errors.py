"""One exception family for everything edgecl refuses, and the exit code each one means.

Library code raises these with a one-line message that names the problem and what to do; the
CLI prints that line and exits with the class's ``exit_code``. Exit codes (the same table holds
for ``edgecl-rt``):

- 2: the command line is wrong (a bad option value, conflicting option, task out of order);
- 1: the command could not do its job (corrupt or locked store, missing data, failed gate).

Any other exception is a bug or an environment problem: the CLI prints one line naming it and a
hint, and the full traceback with ``EDGECL_DEBUG=1``.
"""
from __future__ import annotations


class EdgeclError(Exception):
    """Base of every refusal edgecl makes on purpose."""

    exit_code = 1


class UsageError(EdgeclError):
    """Bad or conflicting options: the user must change the command line."""

    exit_code = 2


class StoreError(EdgeclError):
    """A run folder that cannot be used as asked (corrupt, locked, out of order, newer format)."""


class DataError(EdgeclError, ValueError):
    """Data that is missing, unreadable or no longer matches the run."""


class ExportFailed(EdgeclError):
    """At least one requested format failed its export or its gate (details in the manifest)."""


class DataMissing(EdgeclError, FileNotFoundError):
    """Data or weight files that are not where the run or the options say."""


class ConfigError(EdgeclError, ValueError):
    """A config file edgecl cannot read (not YAML, not a mapping) or a stored run.json value it
    cannot use (exit 1); a learn option's value the user gives (a flag, a keyword, a key of the
    ``--config`` file) is the :class:`OptionError` subclass (exit 2)."""


class OptionError(ConfigError, UsageError):
    """A run option's value that cannot be used, from a flag, a keyword of :func:`edgecl.learn` or the
    ``--config`` file: the command must change, so exit 2. Still a ConfigError (and a ValueError) for
    callers that catch any refused config value."""

    exit_code = 2
