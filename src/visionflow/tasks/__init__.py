"""The task map: what a model learns (`classification`, `multilabel`, `denoise`, ...) and where its code is.

Each task is one package under `visionflow/tasks/` holding everything that is that task's alone:
its `Task` subclass (`base.Task`: data, head and loss, metrics, predictions, report sections,
export parity) with its parts (`Task.parts`: what runs after training, its loader, command-line
verbs, exporter and service, declared as module paths and loaded on first use), its networks.
The core (scan, decode, pipeline, training loop, runtimes, export formats, HTTP transport) never
imports a task package: it asks this map for a task by name and calls the `Task` interface.

A task package is imported only when its task is asked for (`get("denoise")`, which also
registers the task's own networks), so listing the task names (`names()`, for --help and config
checks) loads none, and `import visionflow` loads no task. A model's metadata (labels.json) names its task; files written before tasks existed
are classifications.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from visionflow.errors import ConfigError
from visionflow.registry import located, unknown_message
from visionflow.tasks.base import DEFAULT, TASKS, EvaluationData, Task

# name -> the package that registers it (importing the package adds the task to TASKS). The one
# list of tasks: a new task adds its folder and a line here.
WHERE: dict[str, str] = {
    "classification": "visionflow.tasks.classification",
    "multilabel": "visionflow.tasks.multilabel",
    "regression": "visionflow.tasks.regression",
    "video": "visionflow.tasks.video",
    "denoise": "visionflow.tasks.restoration",
    "deblur": "visionflow.tasks.restoration",
    "superres": "visionflow.tasks.restoration",
    "inpaint": "visionflow.tasks.restoration",
    "gan": "visionflow.tasks.generation",
    "style": "visionflow.tasks.style",
    "detection": "visionflow.tasks.detection",
    "segmentation": "visionflow.tasks.segmentation",
}

# What each task learns from what, in a few words, for --help (without importing the task).
SUMMARY: dict[str, str] = {
    "classification": "one class per image, from class folders",
    "multilabel": "any labels per image, from DIR/labels.csv",
    "regression": "numbers per image (an angle, an age), from a labels CSV or folders named by numbers",
    "video": "one class per clip, from class folders of videos",
    "denoise": "noise removed, learnt from any folder of clean images",
    "deblur": "blur removed, learnt from any folder of sharp images",
    "superres": "images enlarged, learnt from any folder of clean images",
    "inpaint": "holes filled, learnt from any folder of clean images",
    "gan": "an image generator learnt from any folder of images",
    "style": "photos repainted in the style of a picture (--style), learnt from any folder of photos",
    "detection": "boxes around objects, from YOLO, VOC or COCO annotations",
    "segmentation": "a class for every pixel, from images with masks",
}


def described() -> str:
    """Every task with its summary, for --help: "classification (one class per image, ...), ..."."""
    return ", ".join(f"{name} ({SUMMARY[name]})" for name in WHERE)


# Commands a task adds to the `visionflow` command line: command -> its module (`add`, `run`).
COMMANDS: dict[str, str] = {
    "generate": "visionflow.tasks.generation.cli",
}


# Functions of the `visionflow` package that belong to one task: name -> "module:function".
FUNCTIONS: dict[str, str] = {
    "generate": "visionflow.tasks.generation.sampler:generate",
}

# Service routes of a task's own, and what a server of another model answers there (409 code,
# who the route is for, whether it takes images): the service refuses them without loading the
# task that owns them. A route that takes images, on a server whose task has routes of its own,
# gets that task's refusal (Task.refused) instead.
ROUTES: dict[str, tuple[str, str, bool]] = {
    "/v1/restore": ("not_restoration", "restoration and style models (--task denoise, deblur, superres, inpaint or style)", True),
    "/v1/generate": ("not_generator", "GANs (visionflow train --task gan)", False),
}


_READY: set[str] = set()  # tasks whose networks are registered


def names() -> tuple[str, ...]:
    """Every task's name, without importing any task."""
    return tuple(WHERE)


def known(name: object) -> bool:
    """Whether `name` is a task of this version."""
    return isinstance(name, str) and name in WHERE


def get(name: str | None) -> Task:
    """The task `name` (None: the default), its package imported on first use; ConfigError naming
    the choices on a miss."""
    name = name or DEFAULT
    if name not in TASKS:
        if name not in WHERE:
            raise ConfigError(unknown_message("task", name, list(WHERE)))
        importlib.import_module(WHERE[name])
    task = TASKS.get(name)
    if name not in _READY:  # its own networks register with the model registry (and Keras)
        if task.networks:
            importlib.import_module(task.networks)
        _READY.add(name)
    return task


def of(meta: dict) -> Task:
    """The task of a model's metadata (labels.json)."""
    return get(str(meta.get("task") or DEFAULT))


def of_path(path: str | Path) -> Task | None:
    """The task of the model at `path` (a run folder, a model file, or an export folder), judged
    from the labels.json there; None where that cannot be read or names no task of this version
    (the caller's loading says why)."""
    from visionflow.rundir import read_json

    path = Path(path)
    try:
        meta = read_json((path if path.is_dir() else path.parent) / "labels.json")
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not known(meta.get("task") or DEFAULT):
        return None
    return of(meta)


def options(name: str) -> type:
    """The settings dataclass of task `name` (`Task.options`), its package imported but not its
    networks (TensorFlow stays unloaded: --help, config checks)."""
    if name not in WHERE:
        raise ConfigError(unknown_message("task", name, list(WHERE)))
    importlib.import_module(WHERE[name])
    return TASKS.get(name).options


def declaring(setting: str) -> list[str]:
    """The tasks whose own settings (`Task.options`) include `setting`."""
    return [name for name in WHERE if setting in options(name).__dataclass_fields__]


def function(name: str):
    """The task function `name` of FUNCTIONS, its task loaded."""
    return located(FUNCTIONS[name])


def load_all() -> list[Task]:
    """Every task, loaded (for listings that cover them all: `visionflow models`)."""
    return [get(name) for name in WHERE]


def supported(cfg, command: str, names: tuple[str, ...] = (DEFAULT,)):
    """`cfg` completed by its task (`Task.check_config`), after checking that `command` supports
    that task; ConfigError otherwise."""
    if cfg.task not in names:
        raise ConfigError(f"{command} supports {', '.join(names)} models; --task {cfg.task} is not supported there yet.")
    return get(cfg.task).check_config(cfg)


__all__ = ["COMMANDS", "ROUTES", "SUMMARY", "declaring", "options", "described", "DEFAULT", "EvaluationData", "Task", "WHERE", "get", "function", "FUNCTIONS", "known", "load_all", "names", "of", "of_path",
           "supported"]
