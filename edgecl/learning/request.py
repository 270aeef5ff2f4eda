"""What one ``learn`` call asks for, as one frozen object built (and checked) at the boundary.

``edgecl learn`` and :func:`edgecl.learn` both turn their arguments into a :class:`LearnRequest`
with :func:`learn_request`, and everything below them reads that object: no options dict, no
positional tuple, no second copy of the run's settings. Three option tables make it up, each one
dataclass whose fields carry default, help text and check (:mod:`edgecl.options`):

- :class:`PlanRequest`: which tasks (``--task``, ``--all``, ``--force``);
- :class:`RunOptions`: the run options given (flags or keywords over the ``--config`` file),
  resolved into the config a new run would get (:class:`edgecl.config.RunConfig`);
- :class:`Execution`: how this session runs (device, threads, workers, autocast, export), never
  part of the run.

Every value is checked once, here: a bad one is a one-line :class:`edgecl.errors.OptionError`
(exit 2). What can only be checked against the model or the data (``--rank`` above the width,
``--tasks`` not dividing the classes) is checked when the run is created, also as OptionError.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from edgecl.config import EXECUTION_ONLY, GLOBAL_DEFAULTS, OPTIONS, RunConfig, read_yaml, resolve
from edgecl.errors import OptionError
from edgecl.format_choice import FormatChoice
from edgecl.options import Spec, option, problem, specs
from edgecl.threads import threads_problem


def _device(name: str) -> str | None:
    return None if name in ("auto", "cpu", "cuda") else f"--device must be auto, cpu or cuda, got {name!r}"


def _workers(value: int) -> str | None:
    return None if value >= 0 else f"--workers must be a non-negative integer, got {value!r}"


def _amp(name: str) -> str | None:
    return None if name in ("none", "bf16") else f"--amp must be none or bf16, got {name!r}"


@dataclass(frozen=True)
class PlanRequest:
    """Which tasks this call learns (checked against the run in :func:`edgecl.run.plan.tasks_to_learn`)."""

    task: int | None = option(None, "int?", "1-based task to learn (default: the next one).")
    all_tasks: bool = option(False, "bool", "Learn every remaining task.", flags=("--all",))
    force: bool = option(False, "bool", "Relearn a finished task, discarding it and later tasks.")


@dataclass(frozen=True)
class Execution:
    """How this session runs: free to change between calls, never stored in run.json."""

    device: str = option("auto", "str", "auto | cpu | cuda (auto = CUDA when present).", check=_device)
    threads: int | None = option(None, "int?", "CPU threads for torch.", check=threads_problem)
    workers: int | None = option(
        None, "int?", "Data worker processes decoding and augmenting images (per rank; default for image files: "
        "min(max(cores - 1, 2), 8), started once per session; 0 for array data). Same weights for every value.",
        check=_workers)
    amp: str = option("none", "str", "Training autocast: none | bf16 (CUDA).", check=_amp)
    export: bool = option(True, "bool", "Export a bundle after each task.", flags=("--export/--no-export",))


@dataclass(frozen=True)
class RunOptions:
    """The run options this call gives, checked: ``config`` is what a new run is created from,
    ``given`` names the options set by a flag, a keyword or the ``--config`` file (the ones an
    existing run must agree with), ``formats`` the ``--formats`` choice as given (``+trt`` is
    relative to the run's own formats, which only an existing run knows)."""

    config: RunConfig = dataclasses.field(default_factory=RunConfig)
    given: frozenset[str] = frozenset()
    formats: FormatChoice | None = None

    def given_values(self, frozen: RunConfig | None = None) -> dict[str, Any]:
        """Each given option's value, for the comparison with the ``frozen`` run (a relative
        ``--formats`` applied to its formats)."""
        values = {name: getattr(self.config, name) for name in sorted(self.given)}
        if frozen is not None and self.formats is not None and self.formats.exact is None:
            values["export_formats"] = list(self.formats.apply(frozen.export_formats))
        return values

    def sign_key(self) -> str | None:
        """The signing key given now (None: keep the run's own)."""
        return self.config.sign_key if "sign_key" in self.given else None


@dataclass(frozen=True)
class LearnRequest:
    """One ``learn`` call: the run folder and the three checked option sets."""

    run_dir: Path
    plan: PlanRequest = PlanRequest()
    options: RunOptions = RunOptions()
    execution: Execution = Execution()


PLAN_OPTIONS: dict[str, Spec] = specs(PlanRequest)
EXECUTION_OPTIONS: dict[str, Spec] = specs(Execution)


def _checked(table: Mapping[str, Spec], values: Mapping[str, Any]) -> dict[str, Any]:
    """The given ``values`` (None: not given), each checked against its option in ``table``."""
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        wrong = problem(name, value, table[name])
        if wrong is not None:
            raise OptionError(wrong)
        out[name] = value
    return out


def _from_caller(name: str, value: Any) -> Any:
    """A run option as the command line or a caller may give it: ``--sign-key`` as a path is
    stored as run.json holds it (``--formats`` is read by :func:`_formats`)."""
    if name == "sign_key" and isinstance(value, Path):
        return str(value)
    return value


def _formats(choice: FormatChoice | None, yaml_values: Mapping[str, Any]) -> dict[str, Any]:
    """``export_formats`` for a new run from the ``--formats`` choice: ``+``/``-`` words change
    the config file's list, else the default one (nothing: not given)."""
    if choice is None:
        return {}
    base = yaml_values.get("export_formats")
    return {"export_formats": list(choice.apply(base if isinstance(base, list) else GLOBAL_DEFAULTS["export_formats"]))}


def learn_request(run_dir: str | Path, values: Mapping[str, Any], config_file: str | Path | None = None) -> LearnRequest:
    """The checked request for ``run_dir`` from option ``values`` (names of any of the three tables;
    None: not given) and a ``--config`` YAML file; the one place their values are checked."""
    unknown = sorted(set(values) - set(PLAN_OPTIONS) - set(EXECUTION_OPTIONS) - set(OPTIONS))
    if unknown:
        raise OptionError(f"unknown options {unknown}: check the spelling (valid: "
                          f"{sorted({*PLAN_OPTIONS, *EXECUTION_OPTIONS, *OPTIONS})})")
    plan = _checked(PLAN_OPTIONS, {k: v for k, v in values.items() if k in PLAN_OPTIONS})
    execution = _checked(EXECUTION_OPTIONS, {k: v for k, v in values.items() if k in EXECUTION_OPTIONS})
    explicit = {k: _from_caller(k, v) for k, v in values.items()
                if k in OPTIONS and v is not None and k != "export_formats"}
    yaml_values = read_yaml(config_file) if config_file is not None else {}
    formats = FormatChoice.of(values.get("export_formats"))
    explicit.update(_formats(formats, yaml_values))
    config = resolve(explicit, yaml_values)  # checks the YAML's and the explicit values
    given = frozenset(yaml_values) | frozenset(explicit)
    return LearnRequest(Path(run_dir), PlanRequest(**plan), RunOptions(config, given - EXECUTION_ONLY, formats),
                        Execution(**execution))

