"""Run configuration: defaults, presets, YAML, and the frozen copy in run.json.

Precedence: explicit command-line option > ``--config`` YAML > dataset preset > global defaults.
Once a run exists its config is frozen; a later call may repeat an option with the same value but
a different value is refused, naming the option. ``device``, ``threads`` and ``workers`` are
execution choices, not part of the run's identity, so they may change between calls; ``sign_key`` is
one too, but kept in run.json so that every later bundle is signed. Every value is type-checked
(:data:`TYPES`) before anything is written, so ``epochs: "five"`` is one line, not a traceback.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from edgecl_runtime.contract import DEFAULT_REQUESTS, REQUESTS

from edgecl.errors import ConfigError, DataMissing
from edgecl.exporters.quantize.calibration import CALIBRATIONS
from edgecl.learning.schedule import parse_schedule

# The official InfLoRA recipe (CIFAR-100 / ImageNet-R): rank 10, Adam 5e-4, batch 128, lambda .95.
GLOBAL_DEFAULTS: dict[str, Any] = {
    "dataset": "default", "data_root": None, "model": None, "model_kwargs": {}, "weights": "bundled",
    "tasks": 5, "rank": 10, "epochs": 20, "lr": 5e-4, "batch_size": 128, "lam": 0.95,
    "method": "inflora", "blocks": None, "seed": 0, "shuffle_classes": False, "augment": "crop-flip",
    "mean": None, "std": None, "resize": None, "export_formats": list(DEFAULT_REQUESTS), "opset": 17,
    "max_batch": 32, "align": "none", "ca_cov": "full", "ca_logit_norm": False, "sign_key": None,
    "optimizer": "adam", "head_lr": None, "schedule": "cosine", "weight_decay": 0.0, "fresh_final_norm": False,
    "int8_calibration": "minmax",
}

# The bundled default stream (5 x 2 MNIST digits at 28 px) must finish in minutes on 2 CPU cores.
# lambda .999: on a d = 128 backbone the sigma^4 rule at .95 keeps only 2-5 directions per block and
# old features drift by 24 % (A_T 42 %); at .999 it keeps 21-41 of 128 after 5 tasks, drift 6 %,
# and with classifier alignment A_T 87.9 % (benchmarks/bench_learn.py has the comparison).
_SMALL = {"epochs": 5, "rank": 8, "lr": 1e-3, "batch_size": 64, "augment": "shift", "lam": 0.999, "align": "ca"}
# ca_logit_norm stays False (the official +CA configs set it): with CA on these streams it lowered
# A_T every time (Split-MNIST seeds 0/1: 87.9 -> 86.8, 88.3 -> 88.1; Split-Fashion-MNIST, 1 epoch:
# 71.1 -> 70.8; README, "The bundled default and its backbone").
PRESETS: dict[str, dict[str, Any]] = {"default": _SMALL, "mnist": _SMALL, "fashion-mnist": _SMALL}

EXECUTION_ONLY = {"device", "threads", "workers"}
# Kept in run.json so every later call reuses it, but not part of the run's identity: a new value
# replaces the stored one (key rotation) and is never a conflict. A path, never the key itself.
STORED_EXECUTION = {"sign_key"}

# The type every option must have ("?" = may be None); checked for options, YAML and run.json alike.
TYPES: dict[str, str] = {
    "dataset": "str", "data_root": "str?", "model": "str?", "model_kwargs": "dict", "weights": "str",
    "tasks": "int", "rank": "int", "epochs": "int", "lr": "float", "batch_size": "int", "lam": "float",
    "method": "str", "blocks": "int?", "seed": "int", "shuffle_classes": "bool", "augment": "str",
    "mean": "floats?", "std": "floats?", "resize": "int?", "export_formats": "list", "opset": "int",
    "max_batch": "int", "align": "str", "ca_cov": "str", "ca_logit_norm": "bool", "sign_key": "str?",
    "optimizer": "str", "head_lr": "float?", "schedule": "str", "weight_decay": "float", "fresh_final_norm": "bool",
    "int8_calibration": "str",
}
METHODS = ("inflora", "seqlora")
OPTIMISERS = ("adam", "sgd")
# INT8 activation ranges: the one list lives with the quantiser (minmax by measurement, README).
INT8_CALIBRATIONS = CALIBRATIONS


@dataclass
class RunConfig:
    dataset: str
    data_root: str | None
    model: str | None
    model_kwargs: dict[str, Any]
    weights: str
    tasks: int
    rank: int
    epochs: int
    lr: float
    batch_size: int
    lam: float
    method: str
    blocks: int | None
    seed: int
    shuffle_classes: bool
    augment: str
    mean: list[float] | None
    std: list[float] | None
    resize: int | None
    export_formats: list[str]
    opset: int
    max_batch: int
    align: str
    ca_cov: str
    ca_logit_norm: bool
    sign_key: str | None = None  # private key that signs every bundle (STORED_EXECUTION)
    # The trainer of the official recipes (edgecl.learning.optimiser / .schedule); the defaults are
    # InfLoRA's Adam recipe, so run.json files written before these options existed read unchanged.
    optimizer: str = "adam"
    head_lr: float | None = None
    schedule: str = "cosine"
    weight_decay: float = 0.0
    fresh_final_norm: bool = False  # CIFAR-100 + CA: the final LayerNorm reset to weight 1, bias 0
    int8_calibration: str = "minmax"  # how INT8 activation ranges are found from the calibration images
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}: check the spelling (valid: {sorted(names)})")
        merged = {**GLOBAL_DEFAULTS, **data}
        check_types(merged)
        return cls(**{k: merged[k] for k in names if k in merged})

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"--method must be one of {METHODS}, got {self.method!r}")
        if self.blocks is not None and self.blocks < 1:
            raise ConfigError(f"--blocks must be a positive number of blocks (or left out for all), got {self.blocks}")
        if self.tasks < 1 or self.rank < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("--tasks, --rank, --epochs and --batch-size must be positive integers")
        if not 0.0 < self.lam <= 1.0:
            raise ConfigError(f"--lambda must be in (0, 1], got {self.lam}")
        if self.lr <= 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        self._validate_trainer()
        if self.align not in ("none", "ca"):
            raise ConfigError(f"--align must be none or ca, got {self.align!r}")
        if self.ca_cov not in ("full", "diag", "shared"):
            raise ConfigError(f"--ca-cov must be full, diag or shared, got {self.ca_cov!r}")
        check_int8_calibration(self.int8_calibration)
        bad = sorted(set(self.export_formats) - set(REQUESTS))
        if bad:
            raise ConfigError(f"unknown export formats {bad}: use {', '.join(REQUESTS)}")

    def _validate_trainer(self) -> None:
        """--optimizer, --head-lr, --weight-decay and --schedule, each refused in one line."""
        if self.optimizer not in OPTIMISERS:
            raise ConfigError(f"--optimizer must be one of {OPTIMISERS}, got {self.optimizer!r}")
        if self.head_lr is not None and self.head_lr <= 0:
            raise ConfigError(f"--head-lr must be positive (or left out for --lr), got {self.head_lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        parse_schedule(self.schedule)


def check_int8_calibration(method: str) -> str:
    """``method`` if it names an INT8 calibration, else one line naming the choices."""
    if method not in INT8_CALIBRATIONS:
        raise ConfigError(f"--int8-calibration must be one of {', '.join(INT8_CALIBRATIONS)}, got {method!r}")
    return method


def _kind(value: Any, kind: str) -> bool:
    """Whether ``value`` is of ``kind``; bool is not a number here (YAML ``yes`` is no epoch count)."""
    if value is None:
        return kind.endswith("?")
    kind = kind.rstrip("?")
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "floats":
        return isinstance(value, list) and all(_kind(v, "float") for v in value)
    return isinstance(value, {"str": str, "bool": bool, "dict": dict, "list": list}[kind])


def check_types(values: dict[str, Any]) -> None:
    """One-line ConfigError for the first option whose value has the wrong type (``epochs: "five"``)."""
    for key, kind in TYPES.items():
        if key in values and not _kind(values[key], kind):
            what = {"int": "an integer", "float": "a number", "floats": "a list of numbers", "str": "a string",
                    "bool": "true or false", "dict": "a mapping", "list": "a list"}[kind.rstrip("?")]
            raise ConfigError(f"option {key}={values[key]!r} must be {what}"
                              + (" (or left out)" if kind.endswith("?") else "") + ": fix the option or config file")


def parse_formats(text: str) -> list[str]:
    """``"fp16,int8"`` -> ["fp16", "int8"]; ``"none"`` -> [] (FP32 only, which is always exported)."""
    return [f.strip() for f in text.split(",") if f.strip() and f.strip() != "none"]


def task_seed(seed: int, task: int) -> int:
    """The seed of one task of a run: distinct per task, fixed per (seed, task) for exact reruns."""
    return seed * 1000 + task


def read_yaml(path: str | Path) -> dict[str, Any]:
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
    return {k: _yaml_number(v) if TYPES.get(k, "").startswith("float") else v for k, v in renamed.items()}


def _yaml_number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; a number written so is still a number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def resolve(options: dict[str, Any], yaml_values: dict[str, Any] | None = None) -> RunConfig:
    """Build a new run's config from explicit options (None = not given) and a YAML file."""
    explicit = {k: v for k, v in options.items() if v is not None and k not in EXECUTION_ONLY}
    yaml_values = {k: v for k, v in (yaml_values or {}).items() if k not in EXECUTION_ONLY}
    dataset = explicit.get("dataset", yaml_values.get("dataset", GLOBAL_DEFAULTS["dataset"]))
    merged = {**GLOBAL_DEFAULTS, **PRESETS.get(dataset, {}), **yaml_values, **explicit}
    config = RunConfig.from_dict(merged)
    config.validate()
    return config


def conflicts(frozen: RunConfig, options: dict[str, Any], yaml_values: dict[str, Any] | None = None) -> list[str]:
    """Messages for every given option whose value differs from the frozen run config."""
    given = {**(yaml_values or {}), **{k: v for k, v in options.items() if v is not None}}
    frozen_dict = frozen.to_dict()
    out = []
    for key, value in given.items():
        if key in EXECUTION_ONLY or key in STORED_EXECUTION or key not in frozen_dict:
            continue
        if _normal(value) != _normal(frozen_dict[key]):
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
