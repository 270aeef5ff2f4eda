"""Run configuration: defaults, presets, YAML, and the frozen copy in run.json.

Precedence: explicit command-line option > ``--config`` YAML > dataset preset > global defaults.
Once a run exists its config is frozen; a later call may repeat an option with the same value but
a different value is refused, naming the option. ``device`` and ``threads`` are execution choices,
not part of the run's identity, so they may change between calls.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from edgecl_runtime.contract import DEFAULT_REQUESTS, REQUESTS

from edgecl.errors import ConfigError, DataMissing

# The official InfLoRA recipe (CIFAR-100 / ImageNet-R): rank 10, Adam 5e-4, batch 128, lambda .95.
GLOBAL_DEFAULTS: dict[str, Any] = {
    "dataset": "default", "data_root": None, "model": None, "model_kwargs": {}, "weights": "bundled",
    "tasks": 5, "rank": 10, "epochs": 20, "lr": 5e-4, "batch_size": 128, "lam": 0.95,
    "method": "inflora", "blocks": None, "seed": 0, "shuffle_classes": False, "augment": "crop-flip",
    "mean": None, "std": None, "resize": None, "export_formats": list(DEFAULT_REQUESTS), "opset": 17,
    "max_batch": 32, "align": "none", "ca_cov": "full", "ca_logit_norm": False,
}

# The bundled default stream (5 x 2 MNIST digits at 28 px) must finish in minutes on 2 CPU cores.
# lambda .999: on a d = 128 backbone the sigma^4 rule at .95 keeps only 2-5 directions per block and
# old features drift by 24 % (A_T 42 %); at .999 it keeps 21-41 of 128 after 5 tasks, drift 6 %,
# and with classifier alignment A_T 87.9 % (benchmarks/bench_learn.py has the comparison).
_SMALL = {"epochs": 5, "rank": 8, "lr": 1e-3, "batch_size": 64, "augment": "shift", "lam": 0.999, "align": "ca"}
PRESETS: dict[str, dict[str, Any]] = {"default": _SMALL, "mnist": _SMALL, "fashion-mnist": _SMALL}

EXECUTION_ONLY = {"device", "threads", "workers"}
METHODS = ("inflora", "seqlora")


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
        return cls(**{k: merged[k] for k in names if k in merged})

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"--method must be one of {METHODS}, got {self.method!r}")
        if self.tasks < 1 or self.rank < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("--tasks, --rank, --epochs and --batch-size must be positive integers")
        if not 0.0 < self.lam <= 1.0:
            raise ConfigError(f"--lambda must be in (0, 1], got {self.lam}")
        if self.lr <= 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.align not in ("none", "ca"):
            raise ConfigError(f"--align must be none or ca, got {self.align!r}")
        if self.ca_cov not in ("full", "diag", "shared"):
            raise ConfigError(f"--ca-cov must be full, diag or shared, got {self.ca_cov!r}")
        bad = sorted(set(self.export_formats) - set(REQUESTS))
        if bad:
            raise ConfigError(f"unknown export formats {bad}: use {', '.join(REQUESTS)}")


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
    return renamed


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
        if key in EXECUTION_ONLY or key not in frozen_dict:
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
