"""The model registry and the pieces every model shares (input, classifier head)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras

from visionflow.errors import ConfigError
from visionflow.registry import Registry

BN_MOMENTUM = 0.9  # Keras' 0.99 lags far behind on small datasets (validation stuck at chance).


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its builder and what `visionflow models` shows about it."""

    name: str
    build: Callable[..., keras.Model]
    description: str
    default_dropout: float
    min_size: int  # smallest image side the network's downsampling allows
    backbone: bool = False  # a network that accepts --weights (pretrained weights)
    native_size: int = 0  # the resolution its pretrained weights were trained at (0: none known)
    tasks: tuple[str, ...] = ()  # the tasks it serves; () a feature network, for every task that heads features
    multiple: int = 1  # image-to-image models: input sides must be a multiple of this (padded otherwise)
    listing: Callable[[], tuple[int, str]] | None = None  # (parameters, input) for `visionflow models`; None: built

    def serves(self, task: str) -> bool:
        """Whether the network trains for `task`: a task it names, or any task that puts its head on
        a feature network (`Task.on_features`) for a feature network."""
        from visionflow import tasks

        return task in self.tasks if self.tasks else tasks.known(task) and tasks.get(task).on_features


class ModelRegistry(Registry[ModelSpec]):
    """The registry of networks. A task's own networks register when the task is loaded, so a name
    not found loads every task before the lookup fails (naming the closest of all)."""

    def get(self, name: str) -> ModelSpec:
        if name not in self:
            from visionflow import tasks

            tasks.load_all()
        return super().get(name)


MODELS: ModelRegistry = ModelRegistry("model")


def register(name: str, description: str, default_dropout: float, min_size: int, backbone: bool = False,
             native_size: int = 0, tasks: tuple[str, ...] = (), multiple: int = 1,
             listing: Callable[[], tuple[int, str]] | None = None):
    """Decorator registering a builder under `name`; duplicate names raise ValueError. A network
    registered without `tasks` is a feature network (raw pixels in, features out)."""

    def decorator(fn):
        MODELS.add(name, ModelSpec(name, fn, description, default_dropout, min_size, backbone, native_size, tasks,
                                   multiple, listing))
        return fn

    return decorator


def image_input(input_shape: tuple[int, int, int]) -> keras.KerasTensor:
    """The model input: RGB pixels in [0, 255]; uint8 arrays are accepted and cast."""
    return keras.Input(shape=input_shape, dtype="float32", name="image")


def make_regularizer(l1: float, l2: float):
    if l1 == 0 and l2 == 0:
        return None
    return keras.regularizers.L1L2(l1=l1, l2=l2)


def names_for(task: str) -> list[str]:
    """The registered models that serve `task`."""
    return [name for name in MODELS.names() if MODELS.get(name).serves(task)]


def check_model(name: str, image_size: tuple[int, int] | None, weights: str = "none",
                head_epochs: int = 0, task: str | None = None) -> ModelSpec:
    """The spec of model `name`, after checking that it can be built with these settings.

    Raises:
        ConfigError: unknown name (naming the closest), a model of another task, an image size
            below the model's minimum, or --weights / --head-epochs on a model that trains from
            scratch.
    """
    from visionflow import tasks

    task = task or tasks.DEFAULT
    spec = MODELS.get(name)
    if not spec.serves(task):
        raise ConfigError(f"{name} is a model for {' and '.join(_served(spec))}, not for --task {task}; models for "
                          f"{task}: {', '.join(names_for(task))}.")
    if not spec.backbone and weights != "none":
        raise ConfigError(f"--weights only applies to pretrained backbones; {name} trains from scratch. "
                          f"Received: weights={weights}")
    if not spec.backbone and head_epochs:
        raise ConfigError(f"--head-epochs only applies to backbones; {name} has no separate backbone. "
                          f"Received: head_epochs={head_epochs}")
    if image_size is not None and min(image_size) < spec.min_size:
        raise ConfigError(f"{name} needs an image size of at least {spec.min_size}x{spec.min_size}. "
                          f"Received: image_size={image_size[0]}x{image_size[1]}")
    return spec


def _served(spec: ModelSpec) -> list[str]:
    """The names of the tasks `spec` trains for."""
    from visionflow import tasks

    return list(spec.tasks) or [t for t in tasks.names() if spec.serves(t)]


def build_features(name: str, image_size: tuple[int, int], l1: float = 0.0, l2: float = 0.0,
                   weights: str = "none") -> keras.Model:
    """Registered model `name` at `image_size` (height, width) without a head: raw pixels in, a
    feature vector per image out.

    Raises:
        ConfigError: see `check_model`.
    """
    spec = check_model(name, image_size, weights)
    kwargs = dict(input_shape=(*image_size, 3), regularizer=make_regularizer(l1, l2))
    if spec.backbone:
        kwargs["weights"] = weights
    return spec.build(**kwargs)


def build_model(name: str, image_size: tuple[int, int], classes: int | list[str], dropout: float | None = None,
                l1: float = 0.0, l2: float = 0.0, weights: str = "none", task=None) -> keras.Model:
    """Registered model `name` with the head of `task` for `classes` (names, or a count) attached.

    `task` is a `visionflow.tasks.Task` or a task name (None: the default task).

    Raises:
        ConfigError: see `check_model`; an unknown task; classes the task cannot learn (a
            classifier needs at least 2).
    """
    from visionflow import tasks

    names = [f"class_{i}" for i in range(classes)] if isinstance(classes, int) else list(classes)
    head = task if isinstance(task, tasks.Task) else tasks.get(task)
    spec = check_model(name, image_size, weights, task=head.name)
    net = build_features(name, image_size, l1, l2, weights)
    rate = spec.default_dropout if dropout is None else dropout
    outputs = head.head(net.outputs[0], names, rate, make_regularizer(l1, l2))
    return keras.Model(net.inputs[0], outputs, name=net.name)


def _pretrained(spec: ModelSpec) -> str:
    """How a model's ImageNet weights are had: offline (converted from a package), download, or -."""
    from visionflow import pretrained

    if not spec.backbone:
        return "-"
    return "offline" if spec.name in pretrained.SOURCES else "download"


def model_table(image_size: tuple[int, int] = (150, 150), num_classes: int = 2, task: str | None = None) -> list[dict]:
    """One row per registered model, every task's or those that train for `task`: name, tasks,
    parameters (a feature network at `image_size` with a `num_classes` classifier head; a task's
    own network as its `listing` says, else as built for its task's defaults), input, description.

    Models whose minimum size is above `image_size` are counted at their minimum size.
    """
    from visionflow import tasks

    if task is not None:
        tasks.get(task)  # ConfigError naming the tasks on a miss
    tasks.load_all()  # a task's own networks register with it
    rows = []
    for name in MODELS:
        spec = MODELS.get(name)
        if task is not None and task not in _served(spec):
            continue
        size = (max(image_size[0], spec.min_size), max(image_size[1], spec.min_size))
        if spec.listing is not None:
            params, shape = spec.listing()
        elif not spec.tasks:
            params, shape = build_model(name, size, num_classes).count_params(), f"{size[0]}x{size[1]}x3"
        else:  # a task's own network, as built for its task's defaults (image-to-image: any size)
            model = spec.build()
            dims = model.inputs[0].shape[1:]
            params, shape = model.count_params(), "x".join(map(str, dims)) if None not in dims else "any"
        rows.append({"name": name, "task": "/".join(_served(spec)), "params": int(params),
                     "input": shape, "min_size": spec.min_size,
                     "pretrained": _pretrained(spec), "description": spec.description})
        keras.backend.clear_session()
    return rows
