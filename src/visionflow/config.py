"""The one source of truth for training settings.

`TrainConfig` holds every user-facing training option with its type, default and a one-line help
text. The CLI flags of `visionflow train` are generated from it (`add_arguments`), `--config
file.yaml` is read into it (`load_yaml`), and its resolved form is written into every run
directory as `config.yaml`, so a run can be repeated from that file alone.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from visionflow.errors import ConfigError
from visionflow.registry import unknown_message


def _opt(default: Any, help: str, choices: tuple[str, ...] | None = None, metavar: str | None = None):
    return field(default=default, metadata={"help": help, "choices": choices, "metavar": metavar})


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run. Every field is also a `visionflow train --flag`."""

    data: str = _opt("", "Image folder: DIR/train + DIR/validation (or DIR/val), or DIR/<class>/ with --val-split.", metavar="DIR")
    model: str = _opt("small_cnn", "Registered model name (see `visionflow models`).", metavar="NAME")
    weights: str = _opt("none", "Backbone weights: none, imagenet (needs internet) or a .weights.h5 file.", metavar="none|imagenet|PATH")
    freeze_epochs: int = _opt(0, "Backbones: epochs with the backbone frozen before fine-tuning all layers.")
    fine_tune_lr_scale: float = _opt(0.1, "Backbones: learning-rate multiplier once the backbone is unfrozen.")
    epochs: int = _opt(15, "Maximum number of epochs.")
    batch_size: int = _opt(32, "Images per training step.")
    image_size: tuple[int, int] = _opt((150, 150), "Model input size: N for NxN, or HxW.", metavar="N|HxW")
    optimizer: str = _opt("adam", "Optimizer.", choices=("adam", "adamw", "sgd"))
    learning_rate: float = _opt(1e-3, "Initial learning rate.")
    weight_decay: float = _opt(1e-4, "Decoupled weight decay (adamw only).")
    lr_schedule: str = _opt("constant", "Learning-rate schedule, applied per epoch.", choices=("constant", "cosine", "plateau"))
    augment: str = _opt("light", "Augmentation preset.", choices=("none", "light", "strong"))
    dropout: float | None = _opt(None, "Dropout before the classifier; unset uses the model's own default.")
    l1: float = _opt(0.0, "L1 penalty on conv and dense kernels.")
    l2: float = _opt(0.0, "L2 penalty on conv and dense kernels.")
    label_smoothing: float = _opt(0.0, "Label smoothing for the cross-entropy loss.")
    class_weight: str = _opt("none", "Class weights: none, or auto (inverse class frequency) for imbalanced data.", choices=("none", "auto"))
    patience: int = _opt(5, "Early stopping: epochs without improvement of --monitor before stopping; 0 turns it off.")
    monitor: str = _opt("val_accuracy", "Validation metric that picks the best model and drives early stopping.", choices=("val_accuracy", "val_loss"))
    time_budget: float = _opt(0.0, "Minutes of training: stop before an epoch that would overrun them (a cosine schedule then ends there); 0 means no limit.")
    calibrate: bool = _opt(False, "Fit temperature scaling on the validation set after training; predict, serve and exports use it.")
    val_split: float = _opt(0.0, "Fraction of each class held out for validation when DIR has no validation folder.")
    cache: str = _opt("memory", "Cache of decoded, resized images: memory, disk (in the run folder) or none.", choices=("memory", "disk", "none"))
    seed: int = _opt(42, "Random seed for the split, shuffling, augmentation and initial weights.")
    project: str = _opt("runs", "Folder that holds the run folders.", metavar="DIR")
    name: str = _opt("", "Run folder name; unset numbers them exp1, exp2, ...", metavar="NAME")

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", parse_image_size(self.image_size))
        for f in fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise ConfigError(unknown_message(f"{f.name} value", str(value), list(choices)))
        _check(self.epochs >= 1, f"epochs must be at least 1. Received: epochs={self.epochs}")
        _check(self.batch_size >= 1, f"batch_size must be at least 1. Received: batch_size={self.batch_size}")
        _check(self.learning_rate > 0, f"learning_rate must be positive. Received: learning_rate={self.learning_rate}")
        _check(0 <= self.val_split < 1, f"val_split must be in [0, 1). Received: val_split={self.val_split}")
        _check(self.dropout is None or 0 <= self.dropout < 1, f"dropout must be in [0, 1). Received: dropout={self.dropout}")
        _check(0 <= self.label_smoothing < 1, f"label_smoothing must be in [0, 1). Received: label_smoothing={self.label_smoothing}")
        for name in ("l1", "l2", "weight_decay", "time_budget", "freeze_epochs", "patience"):
            _check(getattr(self, name) >= 0, f"{name} must not be negative. Received: {name}={getattr(self, name)}")
        _check(self.fine_tune_lr_scale > 0, f"fine_tune_lr_scale must be positive. Received: {self.fine_tune_lr_scale}")

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["image_size"] = list(self.image_size)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "TrainConfig":
        """Builds a config from a mapping; unknown keys are an error naming the closest key."""
        return from_mapping(cls, values, source)


def from_mapping(cls, values: dict[str, Any], source: str = "config"):
    """Builds the settings dataclass `cls` from a mapping, coercing strings to each field's type;
    unknown keys are an error naming the closest key."""
    known = {f.name: f for f in fields(cls)}
    clean: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise ConfigError(f"{source}: " + unknown_message("setting", str(key), list(known)))
        clean[name] = _coerce(known[name], value, source)
    return cls(**clean)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def parse_image_size(value: Any) -> tuple[int, int]:
    """Accepts 150, "150", "160x120", [160, 120] or (160, 120) and returns (height, width)."""
    try:
        if isinstance(value, str):
            parts = value.lower().replace(",", "x").split("x")
            size = tuple(int(p) for p in parts)
        elif isinstance(value, int):
            size = (value, value)
        else:
            size = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"image_size must be N or HxW, e.g. 150 or 160x120. Received: image_size={value!r}") from None
    if len(size) == 1:
        size = (size[0], size[0])
    if len(size) != 2 or min(size) < 8:
        raise ConfigError(f"image_size must be N or HxW with sides of at least 8 pixels. Received: image_size={value!r}")
    return size  # type: ignore[return-value]


def _field_type(f: dataclasses.Field) -> type:
    default = f.default
    if f.name == "dropout":
        return float
    return type(default)


def _coerce(f: dataclasses.Field, value: Any, source: str) -> Any:
    if f.name == "image_size":
        return parse_image_size(value)
    if value is None:
        return None if f.name == "dropout" else f.default
    kind = _field_type(f)
    try:
        if kind is bool:
            if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
                return value.strip().lower() in ("true", "yes", "on", "1")
            if isinstance(value, (bool, int)):
                return bool(value)
            raise ValueError
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {f.name} must be {kind.__name__}. Received: {f.name}={value!r}") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Reads a YAML mapping of settings, checking only that it is a mapping."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {path} is not valid YAML: {exc}".splitlines()[0]) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of setting: value, not {type(values).__name__}.")
    return values


def add_arguments(parser: argparse.ArgumentParser, cls: type = TrainConfig, skip: tuple[str, ...] = ("data",)) -> None:
    """Adds one `--flag` per field of the settings dataclass `cls` (defaults suppressed so that
    only given flags override)."""
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, action="store_const", const=not default,
                                help=f"{f.metadata['help']} (default: {'on' if default else 'off'})")
            continue
        shown = "model default" if default is None else (
            "x".join(map(str, default)) if isinstance(default, tuple) else default)
        parser.add_argument(
            flag,
            dest=f.name,
            default=argparse.SUPPRESS,
            type=str,
            choices=f.metadata.get("choices"),
            metavar=f.metadata.get("metavar") or (None if f.metadata.get("choices") else f.name.upper()),
            help=f"{f.metadata['help']} (default: {shown})",
        )


def overrides_from_args(args: argparse.Namespace, cls: type = TrainConfig) -> dict[str, Any]:
    """The fields of `cls` that were given as flags."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
