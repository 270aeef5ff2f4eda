"""Option tables: one dataclass field per option, holding its default, help text, type and check.

A dataclass whose fields are made with :func:`option` is a table that everything else reads: the
command line's flags and help (:func:`typer_parameters`), the type and value checks
(:func:`problem`), the defaults and the list of keys a file may hold. So a new option is one
field, and it cannot be documented in one place and checked in another.

Checks return a problem message (None: fine) instead of raising, because the same value is
refused differently depending on where it came from: from the command line or the library's
keyword arguments it is a usage error (exit 2), from a stored run.json a store error.
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Optional

import typer

Check = Callable[[Any], "str | None"]

# what each kind must hold; "?" after a kind in a spec means the value may also be None
_WORDS = {"int": "an integer", "float": "a number", "floats": "a list of numbers", "str": "a string",
          "bool": "true or false", "dict": "a mapping", "list": "a list"}
_CLI_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


@dataclass(frozen=True)
class Spec:
    """What one option is: its type, help text, flags and value check (no flags: file/keyword only)."""

    kind: str  # "int", "float?", ... (see _WORDS)
    help: str = ""
    flags: tuple[str, ...] = ()  # Typer declarations, e.g. ("--lambda",); empty: Typer's own from the name
    cli: bool = True  # False: a file or keyword option only, no command-line flag
    check: Check | None = None
    cli_type: type | None = None  # the flag's Python type when it differs from the kind's (--formats: str)


def option(default: Any, kind: str, help: str = "", *, flags: tuple[str, ...] | bool = True,
           check: Check | None = None, cli_type: type | None = None) -> Any:
    """A dataclass field carrying its :class:`Spec`; ``flags=True``: the field's own ``--name``
    (``--name/--no-name`` for a bool), ``flags=False``: no command-line flag."""
    spec = Spec(kind, help, flags=tuple(flags) if isinstance(flags, tuple) else (), cli=flags is not False,
                check=check, cli_type=cli_type)
    meta = {"option": spec}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def specs(cls: type) -> dict[str, Spec]:
    """Every option of the table ``cls``, by field name, in declaration order."""
    return {f.name: f.metadata["option"] for f in dataclasses.fields(cls) if "option" in f.metadata}


def defaults(cls: type) -> dict[str, Any]:
    """The default of every option of ``cls`` (fresh copies of lists and mappings)."""
    out = {}
    for f in dataclasses.fields(cls):
        if "option" in f.metadata:
            out[f.name] = f.default_factory() if f.default is dataclasses.MISSING else f.default
    return out


def has_kind(value: Any, kind: str) -> bool:
    """Whether ``value`` is of ``kind``; bool is not a number here (YAML ``yes`` is no epoch count)."""
    if value is None:
        return kind.endswith("?")
    kind = kind.rstrip("?")
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "floats":
        return isinstance(value, list) and all(has_kind(v, "float") for v in value)
    return isinstance(value, {"str": str, "bool": bool, "dict": dict, "list": list}[kind])


def type_problem(name: str, value: Any, kind: str) -> str | None:
    """The one-line complaint about ``value`` not being of ``kind`` (None: it is)."""
    if has_kind(value, kind):
        return None
    return (f"option {name}={value!r} must be {_WORDS[kind.rstrip('?')]}"
            + (" (or left out)" if kind.endswith("?") else "") + ": fix the option or config file")


def problem(name: str, value: Any, spec: Spec) -> str | None:
    """What is wrong with ``value`` for option ``name`` (its type, then its check); None: nothing."""
    wrong = type_problem(name, value, spec.kind)
    if wrong is not None or value is None or spec.check is None:
        return wrong
    return spec.check(value)


def typer_parameter(name: str, spec: Spec, default: Any = None) -> inspect.Parameter:
    """The Typer command parameter of one option: ``Optional[type]`` defaulting to ``default``."""
    base = spec.cli_type or _CLI_TYPES[spec.kind.rstrip("?")]
    annotation = Annotated[Optional[base], typer.Option(*spec.flags, help=spec.help)]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def with_parameters(func: Callable[..., Any], parameters: list[inspect.Parameter]) -> Callable[..., Any]:
    """``func(**values)`` presented to Typer as a command with exactly ``parameters``."""
    func.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    func.__annotations__ = {p.name: p.annotation for p in parameters}
    return func
