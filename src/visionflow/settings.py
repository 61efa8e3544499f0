"""Settings dataclasses: how a setting is declared (`option`), checked, coerced from text or YAML
(`from_mapping`) and turned into command-line flags (`add_arguments`).

Every group of settings is a frozen dataclass whose fields are declared with `option` (type,
default, one-line help, choices): the common training settings (`visionflow.config.TrainConfig`),
each task's own (`TaskOptions` subclasses, `Task.options`), and the options of predict, evaluate,
serve and the rest (`visionflow.options`).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from visionflow.errors import ConfigError
from visionflow.registry import unknown_message


def option(default: Any, help: str, choices: tuple[str, ...] | None = None, metavar: str | None = None,
         kind: type | None = None, shown: str | None = None, many: bool = False, aliases: tuple[str, ...] = ()):
    """A setting; `kind` is its type where the default is None (unset: the recipe chooses);
    `shown` is how --help names the default where the value alone would not say it; `many`: a
    tuple of strings, the flag given once per value; `aliases`: further flags for it."""
    return field(default=default, metadata={"help": help, "choices": choices, "metavar": metavar, "kind": kind,
                                            "shown": shown, "many": many, "aliases": aliases})



def parse_minutes(value: Any, name: str = "time_budget") -> float:
    """A duration in minutes from 90s, 3m, 1.5h, 1h30m or a plain number of minutes (10, "2.5")."""
    import re

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    try:
        return float(text)
    except ValueError:
        pass
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?:in)?)?(?:(\d+(?:\.\d+)?)s)?", text)
    if not text or parts is None or not any(parts.groups()):
        raise ConfigError(f"{name} must be a duration such as 90s, 3m, 1h or 1h30m (a plain number is minutes). "
                          f"Received: {name}={value!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in parts.groups())
    return hours * 60 + minutes + seconds / 60



RECIPE = "set by --recipe"


def check_choices(settings) -> None:
    """ConfigError where a field of the settings dataclass `settings` is outside its choices."""
    for f in fields(settings):
        choices = f.metadata.get("choices")
        value = getattr(settings, f.name)
        if choices and value is not None and value not in choices:
            raise ConfigError(unknown_message(f"{f.name} value", str(value), [str(c) for c in choices]))


@dataclass(frozen=True)
class TaskOptions:
    """A task's own training settings (`Task.options`), declared with `option` as TrainConfig's
    common ones are: `visionflow train --task X --help` lists them, a run's config.yaml keeps
    them beside the common ones, and `cfg.NAME` reads them from the run's TrainConfig.

    A task's options subclass this (or another task's, adding fields) and check their values'
    ranges in `check`; choices are checked here.
    """

    def __post_init__(self) -> None:
        check_choices(self)
        self.check()

    def check(self) -> None:
        """ConfigError for a value out of range."""

    def replace(self, **changes: Any) -> "TaskOptions":
        return dataclasses.replace(self, **changes)


def flag(name: str) -> str:
    """The command-line flag of setting `name`: --image-size."""
    return "--" + name.replace("_", "-")


def listed(value: Any, f: dataclasses.Field) -> Any:
    """A setting's value as config.yaml writes it (lists for tuples)."""
    return list(value) if isinstance(value, tuple) and (f.metadata.get("many") or f.name == "image_size") else value



def from_mapping(cls, values: dict[str, Any], source: str = "config"):
    """Builds the settings dataclass `cls` from a mapping, coercing strings to each field's type;
    unknown keys are an error naming the closest key."""
    known = {f.name: f for f in fields(cls)}
    clean: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise ConfigError(f"{source}: " + unknown_message("setting", str(key), list(known)))
        clean[name] = value if isinstance(value, TaskOptions) else coerce(known[name], value, source)
    return cls(**clean)


def check(ok: bool, message: str) -> None:
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
    return f.metadata.get("kind") or type(f.default)


def coerce(f: dataclasses.Field, value: Any, source: str) -> Any:
    """`value` (text, YAML) as the type of setting `f`; ConfigError naming the setting otherwise."""
    if value is None:
        return f.default
    if f.name == "image_size":
        return parse_image_size(value)
    if f.name == "time_budget":
        return parse_minutes(value)
    if f.metadata.get("many"):
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, (str, int, float)) for v in values):
            raise ConfigError(f"{source}: {f.name} must be a list of strings. Received: {f.name}={value!r}")
        return tuple(str(v) for v in values)
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



def add_arguments(parser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Adds one `--flag` per field of the settings dataclass `cls` (defaults suppressed so that
    only given flags override)."""
    for f in fields(cls):
        if f.name in skip or "help" not in f.metadata:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if f.metadata.get("many"):
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, action="append", type=str,
                                metavar=f.metadata.get("metavar") or f.name.upper(),
                                help=f"{f.metadata['help']} (default: {f.metadata.get('shown') or 'none'})")
            continue
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, action="store_const", const=not default,
                                help=f"{f.metadata['help']} (default: {'on' if default else 'off'})")
            continue
        shown = f.metadata.get("shown") or (RECIPE if default is None else (
            "x".join(map(str, default)) if isinstance(default, tuple) else default if default != "" else "none"))
        parser.add_argument(
            flag, *f.metadata.get("aliases", ()),
            dest=f.name,
            default=argparse.SUPPRESS,
            type=str,
            choices=[str(c) for c in f.metadata["choices"]] if f.metadata.get("choices") else None,
            metavar=f.metadata.get("metavar") or (None if f.metadata.get("choices") else f.name.upper()),
            help=f"{f.metadata['help']} (default: {shown})",
        )
