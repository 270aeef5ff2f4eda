"""Run configuration: the one table of run options, presets, YAML, and the frozen copy in run.json.

:class:`RunConfig` is the table: each field is one option with its default (InfLoRA's official
recipe), type, help text, command-line flag and value check (:mod:`edgecl.options`). The CLI's
flags, the library's keywords, the YAML keys and run.json's ``config`` are all read from it.

Precedence: explicit command-line option > ``--config`` YAML > dataset preset > global defaults.
Once a run exists its config is frozen; a later call may repeat an option with the same value but
a different value is refused, naming the option. ``device``, ``threads`` and ``workers`` are
execution choices, not part of the run's identity (:class:`edgecl.learning.request.Execution`);
``sign_key`` is one too, but kept in run.json so that every later bundle is signed.

Every value a user gives is checked once, when it enters (:func:`resolve`): a refusal is one
:class:`edgecl.errors.OptionError` line (exit 2), so ``epochs: "five"`` is one line, not a traceback.
run.json is only type-checked when read (:meth:`RunConfig.from_dict`, a ConfigError: exit 1).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from edgecl_runtime.contract import DEFAULT_REQUESTS, REQUESTS

from edgecl.data.sources import SOURCES
from edgecl.data.transforms import AUGMENTATIONS
from edgecl.errors import ConfigError, DataMissing, OptionError
from edgecl.exporters.quantize.calibration import CALIBRATIONS
from edgecl.learning.schedule import parse_schedule
from edgecl.options import defaults, option, problem, specs, type_problem

METHODS = ("inflora", "seqlora")
OPTIMISERS = ("adam", "sgd")
INT8_CALIBRATIONS = CALIBRATIONS  # the exporters' one list; minmax by measurement (benchmarks/RESULTS.md)


def check_int8_calibration(method: str) -> str:
    """``method`` if it names an INT8 calibration, else one line naming the choices."""
    if method not in INT8_CALIBRATIONS:
        raise ConfigError(f"--int8-calibration must be one of {', '.join(INT8_CALIBRATIONS)}, got {method!r}")
    return method


def _one_of(flag: str, choices: tuple[str, ...], words: str | None = None):
    """A check refusing anything but ``choices``, in the option's usual words."""
    def check(value: Any) -> str | None:
        if value in choices:
            return None
        return f"{flag} must be {words or f'one of {choices}'}, got {value!r}"
    return check


def _positive(flag: str, what: str = "a positive integer"):
    def check(value: Any) -> str | None:
        return None if value > 0 else f"{flag} must be {what}, got {value}"
    return check


def _raised(check):
    """A check built from a function that raises a one-line ConfigError (shared with other callers)."""
    def run(value: Any) -> str | None:
        try:
            check(value)
        except ConfigError as exc:
            return str(exc)
        return None
    return run


def _dataset(name: str) -> str | None:
    return None if name in SOURCES else f"unknown data source {name!r}; choose one of: {', '.join(SOURCES)}"


def _augment(name: str) -> str | None:
    return None if name in AUGMENTATIONS else \
        f"unknown augmentation {name!r}; choose one of: {', '.join(AUGMENTATIONS)}"


def _lam(value: float) -> str | None:
    return None if 0.0 < value <= 1.0 else f"--lambda must be in (0, 1], got {value}"


def _blocks(value: int) -> str | None:
    return None if value >= 1 else \
        f"--blocks must be a positive number of blocks (or left out for all), got {value}"


def _head_lr(value: float) -> str | None:
    return None if value > 0 else f"--head-lr must be positive (or left out for --lr), got {value}"


def _weight_decay(value: float) -> str | None:
    return None if value >= 0 else f"--weight-decay must be >= 0, got {value}"


def _formats(value: list[str]) -> str | None:
    bad = sorted(set(value) - set(REQUESTS))
    return f"unknown export formats {bad}: use {', '.join(REQUESTS)}" if bad else None


def _resize(value: int) -> str | None:
    return None if value > 0 else f"--resize must be a positive number of pixels (at least the model's input), got {value}"


@dataclass(frozen=True)
class RunConfig:
    """Everything that makes a run's results what they are, frozen in run.json (plus ``sign_key``)."""

    dataset: str = option("default", "str", "default | mnist | fashion-mnist | cifar100 | imagefolder",
                          check=_dataset)
    data_root: str | None = option(None, "str?", "Folder holding the data set files.")
    model: str | None = option(None, "str?", "timm ViT name (e.g. vit_base_patch16_224).")
    model_kwargs: dict[str, Any] = option({}, "dict", "Keyword arguments of the timm model.", flags=False)
    weights: str = option("bundled", "str", "bundled | none | hub | PATH (.safetensors / timm checkpoint).")
    tasks: int = option(5, "int", "Number of tasks the classes are split into.", check=_positive("--tasks"))
    rank: int = option(10, "int", "Branch rank r.", check=_positive("--rank"))
    epochs: int = option(20, "int", "Epochs per task.", check=_positive("--epochs"))
    lr: float = option(5e-4, "float", "Learning rate of the branches (and of the heads unless --head-lr).",
                       check=_positive("--lr", "positive"))
    batch_size: int = option(128, "int", "Training batch size.", check=_positive("--batch-size"))
    lam: float = option(0.95, "float", "Memory threshold start lambda.", flags=("--lambda",), check=_lam)
    method: str = option("inflora", "str", "inflora | seqlora", check=_one_of("--method", METHODS))
    blocks: int | None = option(None, "int?", "Adapt only the first n blocks.", check=_blocks)
    seed: int = option(0, "int", "Seed (data order, heads, augmentation).")
    shuffle_classes: bool = option(False, "bool", "Shuffle the class order with the seed.",
                                   flags=("--shuffle-classes",))
    augment: str = option("crop-flip", "str", "none | shift | crop-flip", check=_augment)
    mean: list[float] | None = option(None, "floats?", "Input normalisation mean per channel.", flags=False)
    std: list[float] | None = option(None, "floats?", "Input normalisation std per channel.", flags=False)
    resize: int | None = option(None, "int?", "Resize the shorter side to this many pixels before the centre crop "
                                "to the model's input (default: squash to the input).", check=_resize)
    export_formats: list[str] = option(
        list(DEFAULT_REQUESTS), "list", "Formats exported after each task: a set (fp16,int8,int8cpu,trt; 'none': "
        "FP32 only, always exported) or changes to the default set (+trt,-int8cpu). Default fp16,int8,int8cpu.",
        flags=("--formats",), check=_formats, cli_type=str)
    opset: int = option(17, "int", "ONNX opset.", flags=False)
    max_batch: int = option(32, "int", "Largest batch of the exported models.", flags=False)
    align: str = option("none", "str", "Classifier alignment after each task: none | ca.",
                        check=_one_of("--align", ("none", "ca"), "none or ca"))
    ca_cov: str = option("full", "str", "CA covariance storage: full | diag | shared.",
                         check=_one_of("--ca-cov", ("full", "diag", "shared"), "full, diag or shared"))
    ca_logit_norm: bool = option(False, "bool", "CA with logit normalisation (tau 0.1).",
                                 flags=("--ca-logit-norm/--no-ca-logit-norm",))
    # A path, never the key itself: kept so every later call signs (not part of the run's identity).
    sign_key: str | None = option(
        None, "str?", "Ed25519 private key (`edgecl keygen`) signing every bundle of the run; its path is kept in "
        "run.json (a new one replaces it).", cli_type=Path)
    # Kept in run.json and changeable between calls, like sign_key: it says what a call writes, not
    # what the run learns.
    updates: bool = option(True, "bool", "After each task's export, also write the over-the-air update from the "
                           "previous task's bundle (every format it ships; signed when the run signs).",
                           flags=("--updates/--no-updates",))
    # The trainer of the official recipes (edgecl.learning.optimiser / .schedule); the defaults are
    # InfLoRA's Adam recipe, so run.json files written before these options existed read unchanged.
    optimizer: str = option("adam", "str", "adam | sgd (momentum 0.9).", check=_one_of("--optimizer", OPTIMISERS))
    head_lr: float | None = option(None, "float?", "Learning rate of the new task's head (default: --lr).",
                                   check=_head_lr)
    schedule: str = option("cosine", "str", "Per-epoch rate: cosine (InfLoRA's) | cosine-annealing | "
                           "multistep:E1,E2 (x0.1 at each 0-based epoch).", check=_raised(parse_schedule))
    weight_decay: float = option(0.0, "float", "Weight decay of branches and head (L2, as the official optimisers).",
                                 check=_weight_decay)
    fresh_final_norm: bool = option(False, "bool", "Reset the backbone's final LayerNorm to weight 1, bias 0 (the "
                                    "CIFAR-100 + CA recipe).", flags=("--fresh-final-norm",))
    int8_calibration: str = option("minmax", "str", "INT8 activation ranges: minmax (default, by measurement) | "
                                   "percentile | entropy.", check=_raised(check_int8_calibration))
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunConfig":
        """The config stored in run.json: unknown keys and wrong types are a ConfigError (exit 1);
        keys it lacks (written before the option existed) take the defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}: check the spelling (valid: {sorted(names)})")
        for key, spec in OPTIONS.items():
            if key in data and (wrong := type_problem(key, data[key], spec.kind)) is not None:
                raise ConfigError(wrong)
        return cls(**data)


OPTIONS = specs(RunConfig)
GLOBAL_DEFAULTS: dict[str, Any] = defaults(RunConfig)
TYPES: dict[str, str] = {name: spec.kind for name, spec in OPTIONS.items()}

# Defaults by backbone width, chosen on every stream benchmarks/bench_streams.py makes (IDX arrays,
# PNG class folders, a 20-class 10-task folder stream, RGB photo folders; benchmarks/RESULTS.md,
# "Defaults on users' streams"): the rule is the width, never the data set's name, so a user's own
# class folders get what the bundled stream gets.
# Narrow backbones (embed_dim <= 256, the bundled d = 128 ViT among them): lambda .999, because the
# sigma^4 rule at .95 keeps only 2-5 directions per block of 128 and old features drift (A_T 42 %
# on the bundled stream); 5 epochs, rank 8; classifier alignment on, without which the plain recipe
# scored 21-37 % A_T on every folder stream against 71-90 % with it.
# Wide backbones (ViT-S/B/L): the official InfLoRA recipe (rank 10, Adam 5e-4, batch 128,
# lambda .95, 20 epochs) with classifier alignment, as the official +CA configs (their logs are
# above the plain ones: ImageNet-R-10 seed 0, 79.48 against 75.65).
# ca_logit_norm stays False (the official +CA configs set it): on the bundled streams it lowered
# A_T every time (benchmarks/RESULTS.md, "Classifier alignment: logit normalisation").
NARROW_WIDTH = 256
_BUNDLED_INFO = Path(__file__).resolve().parent / "assets" / "backbone.json"
_NARROW = {"epochs": 5, "rank": 8, "lr": 1e-3, "batch_size": 64, "augment": "shift", "lam": 0.999, "align": "ca"}
_WIDE = {"align": "ca"}
_NAMED_WIDTHS = {"tiny": 192, "small": 384, "base": 768, "large": 1024, "huge": 1280, "giant": 1408}


def backbone_width(model: str | None, model_kwargs: Mapping[str, Any]) -> int | None:
    """The embedding width a run's backbone will have, from its options alone (None: unknown).

    No model named means the bundled backbone (or ``model_kwargs`` over vit_tiny); a timm name
    gives its family's width (``vit_base_patch16_224``: 768) unless ``embed_dim`` overrides it.
    """
    if "embed_dim" in model_kwargs:
        return int(model_kwargs["embed_dim"])
    if model is None:  # the bundled backbone
        return int(json.loads(_BUNDLED_INFO.read_text())["model_kwargs"]["embed_dim"])
    return next((w for word, w in _NAMED_WIDTHS.items() if f"_{word}_" in f"_{model}_"), None)


def preset(model: str | None, model_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults for this backbone (see the rule above); explicit options and YAML override them."""
    width = backbone_width(model, model_kwargs)
    return dict(_NARROW if width is not None and width <= NARROW_WIDTH else _WIDE)


EXECUTION_ONLY = {"device", "threads", "workers"}
# Kept in run.json so every later call reuses it, but not part of the run's identity: a new value
# replaces the stored one (key rotation) and is never a conflict. A path, never the key itself.
STORED_EXECUTION = {"sign_key", "updates"}


def check_options(values: Mapping[str, Any]) -> None:
    """One OptionError line for the first given value that is unknown, of the wrong type or out of
    range; ``values`` are options a user gave (flags, keywords, a ``--config`` file)."""
    unknown = sorted(set(values) - set(OPTIONS))
    if unknown:
        raise OptionError(f"unknown config keys {unknown}: check the spelling (valid: {sorted(OPTIONS)})")
    for key, value in values.items():
        wrong = problem(key, value, OPTIONS[key])
        if wrong is not None:
            raise OptionError(wrong)


def task_seed(seed: int, task: int) -> int:
    """The seed of one task of a run: distinct per task, fixed per (seed, task) for exact reruns."""
    return seed * 1000 + task


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The options of a ``--config`` file (``-`` in keys read as ``_``, ``lambda`` as ``lam``);
    execution choices in it (device, threads, workers) are ignored, as before."""
    path = Path(path)
    if not path.is_file():
        raise DataMissing(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of option: value")
    renamed = {k.replace("-", "_"): v for k, v in data.items()}
    if "lambda" in renamed:
        renamed["lam"] = renamed.pop("lambda")
    return {k: _yaml_number(v) if TYPES.get(k, "").startswith("float") else v
            for k, v in renamed.items() if k not in EXECUTION_ONLY}


def _yaml_number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; a number written so is still a number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def resolve(options: Mapping[str, Any], yaml_values: Mapping[str, Any] | None = None) -> RunConfig:
    """A new run's config from explicit options (None = not given) and a YAML file's values, each
    value checked here (:func:`check_options`); the backbone's preset (:func:`preset`) fills what
    neither gives."""
    explicit = {k: v for k, v in options.items() if v is not None and k not in EXECUTION_ONLY}
    yaml_values = {k: v for k, v in (yaml_values or {}).items() if k not in EXECUTION_ONLY}
    check_options(yaml_values)
    check_options(explicit)
    given = {**yaml_values, **explicit}
    return RunConfig(**{**preset(given.get("model"), given.get("model_kwargs") or {}), **given})


def conflicts(frozen: RunConfig, given: Mapping[str, Any]) -> list[str]:
    """Messages for every given option (flags over YAML, already checked) that differs from the
    frozen run config."""
    frozen_dict = frozen.to_dict()
    out = []
    for key, value in given.items():
        if key in EXECUTION_ONLY or key in STORED_EXECUTION or key not in frozen_dict:
            continue
        if key == "export_formats":  # a set: the order it was written in says nothing
            same = sorted(value) == sorted(frozen_dict[key])
        else:
            same = _normal(value) == _normal(frozen_dict[key])
        if not same:
            flag = "--" + key.replace("_", "-").replace("lam", "lambda")
            out.append(f"option {flag}={value!r} conflicts with this run's {key}={frozen_dict[key]!r} (run.json); "
                       "drop the option or start a new run with --run NEW_DIR")
    return out


def _normal(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
