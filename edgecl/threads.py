"""``--threads``: the one check and the one place the count is applied, for every command that computes.

Why one module: ``learn``, ``export``, ``report`` and ``pretrain`` take the same option; its value
is checked here once, where it enters (the option table's check or :func:`checked_threads`), and
travels as a plain positive int (None: the libraries' own choice).
"""
from __future__ import annotations

from typing import Any

from edgecl.errors import OptionError

HELP = "CPU threads (torch, and ONNX Runtime where the command runs it); default: the libraries' own choice."


def threads_problem(value: Any) -> str | None:
    """What is wrong with ``value`` as a thread count (None: fine)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return None
    return f"--threads must be a positive integer, got {value!r}"


def checked_threads(value: Any) -> int | None:
    """``value`` as a thread count (None: not given); anything else is one OptionError line (exit 2)."""
    if value is None:
        return None
    wrong = threads_problem(value)
    if wrong is not None:
        raise OptionError(wrong)
    return int(value)


def use_threads(threads: int | None) -> None:
    """Give torch and every ONNX Runtime session the exporters open ``threads`` intra-op threads
    (None: leave the libraries' choice)."""
    if threads is not None:
        import torch

        from edgecl.exporters.parity.ort_session import set_session_threads

        torch.set_num_threads(threads)
        set_session_threads(threads)


__all__ = ["HELP", "threads_problem", "checked_threads", "use_threads"]
