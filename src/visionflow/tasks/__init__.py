"""The task registry: what a model learns (`classification`, `multilabel`, ...).

A task owns its dataset spec and label encoding, head and loss, metrics, typed predictions,
evaluator and report sections, and its export parity criterion (see `base.Task`). A model's
metadata (labels.json) names its task; files written before tasks existed are classifications.
"""

from __future__ import annotations

from visionflow.tasks.base import DEFAULT, TASKS, EvaluationData, Task


def get(name: str | None) -> Task:
    """The registered task `name` (None: the default); ConfigError naming the choices on a miss."""
    return TASKS.get(name or DEFAULT)


def of(meta: dict) -> Task:
    """The task of a model's metadata (labels.json)."""
    return get(str(meta.get("task") or DEFAULT))


def supported(cfg, command: str, names: tuple[str, ...] = (DEFAULT,)):
    """`cfg` completed by its task (`Task.check_config`), after checking that `command` supports
    that task; ConfigError otherwise."""
    from visionflow.errors import ConfigError

    if cfg.task not in names:
        raise ConfigError(f"{command} supports {', '.join(names)} models; --task {cfg.task} is not supported there yet.")
    return get(cfg.task).check_config(cfg)


from visionflow.tasks import classification, multilabel, restoration, video, generation  # noqa: E402,F401  (registers the tasks)

__all__ = ["TASKS", "DEFAULT", "EvaluationData", "Task", "get", "of", "supported"]
