"""The search space: which training settings a tuner varies, and over what values.

A space maps TrainConfig keys to either a list of choices or a range:

    learning_rate: {low: 1.0e-4, high: 3.0e-3, log: true}
    batch_size: [16, 32, 64]
    dropout: {low: 0.0, high: 0.5}
    augment: [light, strong]

Ranges of integers (both ends integers, no `log`) are sampled as integers, optionally with
`step`. Grid search needs finite values: a range becomes `grid_points` values spread over it
(geometrically with `log`), 3 unless the range says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visionflow.config import COMMON, TrainConfig, load_yaml
from visionflow.errors import ConfigError
from visionflow.registry import unknown_message

# Settings that describe where a run is, not how it learns: never tuned.
NOT_TUNABLE = ("data", "task", "project", "name", "seed", "cache", "val_split", "calibrate", "monitor",
               "time_budget")

DEFAULT_SPACE: dict[str, Any] = {
    "learning_rate": {"low": 3e-4, "high": 3e-3, "log": True},
    "batch_size": [16, 32, 64],
    "dropout": {"low": 0.0, "high": 0.5},
    "l2": [0.0, 1e-5, 1e-4],
    "augment": ["none", "light", "strong"],
    "optimizer": ["adam", "adamw"],
    "label_smoothing": {"low": 0.0, "high": 0.2},
}


@dataclass(frozen=True)
class Param:
    """One tuned setting: categorical `choices`, or a `low`..`high` range."""

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    grid_points: int = 3

    @property
    def is_int(self) -> bool:
        return self.choices is None and isinstance(self.low, int) and isinstance(self.high, int) and not self.log

    def suggest(self, trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.is_int:
            return trial.suggest_int(self.name, self.low, self.high, step=int(self.step or 1))
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log, step=self.step)

    def grid(self) -> list:
        """The values grid search tries."""
        if self.choices is not None:
            return list(self.choices)
        spread = np.geomspace if self.log else np.linspace
        values = spread(float(self.low), float(self.high), self.grid_points)
        if self.is_int:
            return sorted({int(round(v)) for v in values})
        return [float(f"{v:.6g}") for v in values]


def _check_value(name: str, value: Any) -> None:
    """Raises ConfigError when `value` is not a valid setting for `name`."""
    TrainConfig.from_dict({name: value}, source="search space")


def parse_space(space: dict[str, Any], source: str = "search space") -> list[Param]:
    """Checks a space mapping and returns its parameters.

    Raises:
        ConfigError: an unknown or untunable key (naming the closest key), an empty choice list,
            a range without low < high, or a value the setting does not accept.
    """
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{source}: expected a mapping of setting: choices or range, e.g. "
                          f"learning_rate: {{low: 1e-4, high: 1e-2, log: true}}.")
    tunable = [name for name in COMMON if name not in NOT_TUNABLE]
    params = []
    for key, spec in space.items():
        name = str(key).replace("-", "_")
        if name not in tunable:
            if name in NOT_TUNABLE:
                raise ConfigError(f"{source}: {name} cannot be tuned; set it with --{name.replace('_', '-')} instead.")
            raise ConfigError(f"{source}: " + unknown_message("setting", str(key), tunable))
        if isinstance(spec, list):
            if not spec:
                raise ConfigError(f"{source}: {name} has an empty list of choices.")
            for value in spec:
                _check_value(name, value)
            params.append(Param(name, choices=tuple(spec)))
        elif isinstance(spec, dict):
            unknown = set(spec) - {"low", "high", "log", "step", "grid_points"}
            if unknown or "low" not in spec or "high" not in spec:
                raise ConfigError(f"{source}: {name} must be a list of choices or {{low, high[, log, step, "
                                  f"grid_points]}}. Received: {spec}")
            low, high = spec["low"], spec["high"]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or not low < high:
                raise ConfigError(f"{source}: {name} needs numbers with low < high. Received: low={low!r}, high={high!r}")
            if spec.get("log") and low <= 0:
                raise ConfigError(f"{source}: {name} with log: true needs low > 0. Received: low={low}")
            _check_value(name, low)
            _check_value(name, high)
            params.append(Param(name, low=low, high=high, log=bool(spec.get("log", False)), step=spec.get("step"),
                                grid_points=int(spec.get("grid_points", 3))))
        else:
            raise ConfigError(f"{source}: {name} must be a list of choices or a {{low, high}} range. "
                              f"Received: {spec!r}")
    return params


def load_space(path: str | Path | None) -> list[Param]:
    """The space in a YAML file, or the default space when `path` is None."""
    if path is None:
        return parse_space(DEFAULT_SPACE, "default search space")
    return parse_space(load_yaml(path), str(path))


def baseline(params: list[Param], config: TrainConfig) -> dict[str, Any] | None:
    """The base config's own values for the tuned keys, when the space contains all of them
    (so it can run as trial 0 and the leaderboard shows what tuning gained); else None."""
    out = {}
    for p in params:
        value = getattr(config, p.name)
        if p.name == "dropout" and value is None:  # unset: the model's own default
            from visionflow.models import MODELS

            value = MODELS.get(config.model).default_dropout
        if isinstance(value, tuple):
            value = value[0] if len(set(value)) == 1 else None
        if value is None:
            return None
        if p.choices is not None:
            if value not in p.choices:
                return None
        elif not (p.low <= value <= p.high):
            return None
        out[p.name] = value
    return out
