"""The one source of truth for training settings.

`TrainConfig` holds every training setting that all tasks share, with its type, default and a
one-line help text; the run's task adds its own (`Task.options`, a `TaskOptions` dataclass held
in `TrainConfig.options`). The flags of `visionflow train` are generated from both
(`add_train_arguments`: the common ones, plus the task's own for the task the command line
names), `--config file.yaml` is read into them (`load_yaml`, `TrainConfig.from_dict`), and the
resolved settings are written into every run directory as `config.yaml`, one flat mapping with
the task's own beside the common ones, so a run can be repeated from that file alone.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from visionflow import tasks
from visionflow.data.resize import DEFAULT_MODE as DEFAULT_RESIZE, MODES as RESIZE_MODES
from visionflow.errors import ConfigError
from visionflow.registry import unknown_message
from visionflow.settings import (TaskOptions, add_arguments, check, check_choices, coerce, flag, from_mapping,
                                 listed, option, parse_image_size)

TASK_NAMES = tasks.names()


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run. Every common field is also a `visionflow train --flag`; the
    run's task adds its own settings (`options`, the task's `TaskOptions`), read as `cfg.NAME`
    too. Build one from a flat mapping of both with `from_dict`."""

    data: str = option("", "Image folder: DIR/train + DIR/validation (or DIR/val), or DIR/<class>/ with --val-split.", metavar="DIR")
    task: str = option(tasks.DEFAULT, f"What the model learns: {tasks.described()}.", choices=TASK_NAMES)
    resize: str = option(DEFAULT_RESIZE, "How images reach the input size: stretch, crop (centre) or pad (letterbox, grey "
                                  "bars); the model keeps it for predict, serve and exports.", choices=RESIZE_MODES)
    model: str | None = option(None, "Registered model name (see `visionflow models`); unset: the recipe's "
                                   "(auto: efficientnet_lite0 where its ImageNet weights are installed or installable, "
                                   "else small_cnn).", metavar="NAME", kind=str)
    weights: str | None = option(None, "Backbone weights: none (from scratch), imagenet (offline weights for the "
                                     "efficientnet_lite models, see `visionflow weights`; a download for keras.applications "
                                     "backbones) or a .weights.h5 file; unset: the recipe's.",
                               metavar="none|imagenet|PATH", kind=str)
    head_epochs: int | None = option(None, "Pretrained backbones: epochs of training the classifier head alone on the "
                                         "backbone's features, computed once, before the main epochs fine-tune all layers; "
                                         "0 turns it off.", kind=int)
    freeze_epochs: int = option(0, "Backbones: epochs with the backbone frozen before fine-tuning all layers "
                                       "(--epochs or more: frozen throughout).")
    fine_tune: str = option("auto", "Pretrained backbones after the head phase: auto (fine-tune only where a slice of "
                                  "the training images, held out for this decision, says it pays, and stop when it "
                                  "stops paying), always (every epoch) or never (the head alone).",
                          choices=("auto", "always", "never"))
    versus_scratch: str = option("auto", "Pretrained runs of classification: whether small_cnn trained from scratch on "
                                       "the same images challenges the pretrained model on the held-out training "
                                       "images, the better one kept (the other in RUN/runner_up): auto (where the "
                                       "recipe chose the model, from scratch is cheap, about a minute, and the "
                                       "pretrained model is not already all right), always (wherever images were "
                                       "held out) or never.",
                               choices=("auto", "always", "never"))
    fine_tune_lr_scale: float = option(0.1, "Backbones: learning-rate multiplier once the backbone is unfrozen (after "
                                          "--head-epochs or --freeze-epochs).")
    recipe: str = option("auto", "How unset settings are chosen: auto (from the data and a time budget; see "
                               "visionflow.recipe) or tutorial (150x150, 15 epochs, Adam, constant rate).",
                       choices=("auto", "tutorial"))
    epochs: int | None = option(None, "Maximum number of epochs.", kind=int)
    batch_size: int | None = option(None, "Images per training step.", kind=int, shown="the task's: 32, gan 64")
    image_size: tuple[int, int] | None = option(None, "Model input size: N for NxN, or HxW.", metavar="N|HxW", kind=tuple)
    optimizer: str | None = option(None, "Optimizer.", choices=("adam", "adamw", "sgd"), kind=str)
    learning_rate: float | None = option(None, "Initial learning rate.", kind=float)
    weight_decay: float | None = option(None, "Decoupled weight decay (adamw only).", kind=float)
    lr_schedule: str | None = option(None, "Learning-rate schedule, applied per epoch.",
                                   choices=("constant", "cosine", "plateau"), kind=str)
    augment: str | None = option(None, "Augmentation preset: none, light (flips, small turns, zooms, shifts), strong "
                                     "(more of them, plus contrast) or gentle (zooms, shifts and contrast: no flips "
                                     "or turns, the regression default, since they change angles).",
                               choices=("none", "light", "strong", "gentle"), kind=str)
    mixup: float | None = option(None, "Mixup alpha for training batches (blend pairs of images and their labels); 0 turns it off.",
                               kind=float)
    dropout: float | None = option(None, "Dropout before the classifier; unset: the recipe's, or the model's own default.",
                                 kind=float)
    l1: float = option(0.0, "L1 penalty on conv and dense kernels.")
    l2: float = option(0.0, "L2 penalty on conv and dense kernels.")
    label_smoothing: float | None = option(None, "Label smoothing for the cross-entropy loss.", kind=float)
    class_weight: str = option("none", "Class weights: none, or auto (inverse class frequency) for imbalanced data.", choices=("none", "auto"))
    patience: int | None = option(None, "Early stopping: epochs without improvement of --monitor before stopping; 0 turns it off.",
                                kind=int)
    monitor: str | None = option(None, "Validation metric that picks the best model and drives early stopping; unset: "
                                     "the task's (val_accuracy for classification, val_loss for multilabel, val_psnr for restoration, "
                                     "val_map50 for detection, val_miou for segmentation).",
                               choices=("val_accuracy", "val_loss", "val_psnr", "val_map50", "val_miou"), kind=str,
                               shown="the task's")
    keep: str | None = option(None, "Which epoch model.keras holds: best (by --monitor, on the validation images, which "
                                  "flatters its figures) or last.", choices=("best", "last"), kind=str)
    time_budget: float | None = option(None, "Wall time of the whole run (data scan, feature pass, epochs, checkpoints, "
                                           "evaluation, report): 90s, 3m, 1h or minutes; the run stops before an epoch "
                                           "that would overrun it (a cosine schedule then ends there); 0 means no limit. "
                                           "Less time, fewer epochs (and, pretrained, no fine-tuning); unset: the "
                                           "recipe's, from the data's size.",
                                     kind=float, metavar="DURATION", aliases=("--budget",))
    dp: bool = option(False, "Differentially private training (DP-SGD: every training image's gradient clipped, "
                           "Gaussian noise added), the noise solved for --target-epsilon over the planned epochs; "
                           "classification and multilabel models. Batch normalisation becomes group normalisation "
                           "(from scratch) or stays frozen (pretrained).")
    target_epsilon: float = option(8.0, "DP: the privacy budget epsilon spent by the end of the planned epochs.")
    dp_clip: float = option(1.0, "DP: the L2 norm each training image's gradient is clipped to.")
    dp_delta: str = option("auto", "DP: delta of (epsilon, delta)-privacy; auto: 1 / (10 x training images).",
                         metavar="DELTA|auto")
    dp_accountant: str = option("pld", "DP: the privacy accountant (Google's dp-accounting): pld (privacy loss "
                                     "distributions, the tightest) or rdp (Renyi DP, as most papers report).",
                              choices=("pld", "rdp"))
    teacher: str = option("", "Distillation: a trained classification run whose softened answers (beside the labels) "
                            "the model learns from; see visionflow distill.", metavar="RUN", shown="none")
    distill_temperature: float = option(4.0, "Distillation: the temperature T that softens the teacher's answers.")
    distill_alpha: float = option(0.8, "Distillation: weight of the teacher's soft targets in the loss (the labels "
                                     "get 1 - alpha).")
    calibrate: bool = option(False, "Fit temperature scaling on the validation set after training; predict, serve and exports use it.")
    val_split: float = option(0.0, "Fraction of each class held out for validation when DIR has no validation folder.")
    cache: str = option("memory", "Cache of decoded, resized images: memory, disk (in the run folder) or none.", choices=("memory", "disk", "none"))
    seed: int = option(42, "Random seed for the split, shuffling, augmentation and initial weights.")
    project: str = option("runs", "Folder that holds the run folders.", metavar="DIR")
    name: str = option("", "Run folder name; unset numbers them exp1, exp2, ...", metavar="NAME")
    options: TaskOptions | None = field(default=None)  # the task's own settings; None: the task's defaults

    def __post_init__(self) -> None:
        if self.image_size is not None:
            object.__setattr__(self, "image_size", parse_image_size(self.image_size))
        check_choices(self)
        task = tasks.get(self.task)
        if self.options is None:
            object.__setattr__(self, "options", task.options())
        elif type(self.options) is not task.options:
            raise ConfigError(f"The settings {type(self.options).__name__} are not those of --task {self.task} "
                              f"({task.options.__name__}).")
        if self.batch_size is None:
            object.__setattr__(self, "batch_size", task.batch_size)
        unset = lambda name: getattr(self, name) is None  # noqa: E731 - the recipe fills it later
        check(unset("epochs") or self.epochs >= 1, f"epochs must be at least 1. Received: epochs={self.epochs}")
        check(self.batch_size >= 1, f"batch_size must be at least 1. Received: batch_size={self.batch_size}")
        check(unset("learning_rate") or self.learning_rate > 0,
               f"learning_rate must be positive. Received: learning_rate={self.learning_rate}")
        check(0 <= self.val_split < 1, f"val_split must be in [0, 1). Received: val_split={self.val_split}")
        check(self.dropout is None or 0 <= self.dropout < 1, f"dropout must be in [0, 1). Received: dropout={self.dropout}")
        check(unset("label_smoothing") or 0 <= self.label_smoothing < 1,
               f"label_smoothing must be in [0, 1). Received: label_smoothing={self.label_smoothing}")
        for name in ("l1", "l2", "weight_decay", "time_budget", "freeze_epochs", "head_epochs", "patience", "mixup"):
            check(unset(name) or getattr(self, name) >= 0,
                   f"{name} must not be negative. Received: {name}={getattr(self, name)}")
        check(self.target_epsilon > 0, f"target_epsilon must be positive. Received: target_epsilon={self.target_epsilon}")
        check(self.dp_clip > 0, f"dp_clip must be positive. Received: dp_clip={self.dp_clip}")
        self.delta_value()  # checks dp_delta
        check(self.distill_temperature > 0,
               f"distill_temperature must be positive. Received: distill_temperature={self.distill_temperature}")
        check(0 <= self.distill_alpha <= 1, f"distill_alpha must be in [0, 1]. Received: distill_alpha={self.distill_alpha}")
        check(self.fine_tune_lr_scale > 0, f"fine_tune_lr_scale must be positive. Received: {self.fine_tune_lr_scale}")
        check(not (self.freeze_epochs and self.head_epochs),
               "Give --head-epochs (the head on cached features) or --freeze-epochs (the head with the frozen backbone "
               f"in the loop), not both. Received: head_epochs={self.head_epochs}, freeze_epochs={self.freeze_epochs}")

    def delta_value(self) -> float | None:
        """dp_delta as a number; None for auto (chosen from the training images)."""
        if str(self.dp_delta).strip().lower() == "auto":
            return None
        try:
            value = float(self.dp_delta)
        except ValueError:
            value = -1.0
        check(0 < value < 1, f"dp_delta must be auto or a number between 0 and 1, e.g. 1e-5. Received: "
                              f"dp_delta={self.dp_delta!r}")
        return value

    def __getattr__(self, name: str) -> Any:
        # Only names that are not common fields reach here: the task's own settings (cfg.noise).
        options = self.__dict__.get("options")
        if options is not None and name in options.__dataclass_fields__:
            return getattr(options, name)
        raise AttributeError(f"{name!r} is not a setting of --task {self.__dict__.get('task')}")

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with `changes`, common settings and the task's own alike; a new task starts from
        its own settings' defaults."""
        own = {k: changes.pop(k) for k in list(changes) if k not in COMMON}
        options = self.options
        if changes.get("task", self.task) != self.task and "options" not in changes:
            options = tasks.options(changes["task"])()
        if own:
            stray = [k for k in own if k not in options.__dataclass_fields__]
            if stray:
                raise ConfigError(foreign(stray[0], changes.get("task", self.task)))
            options = options.replace(**own)
        return dataclasses.replace(self, **{**changes, "options": changes.get("options", options)})

    def to_dict(self) -> dict[str, Any]:
        """Every setting in one flat mapping, the task's own right after `task` (config.yaml)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name != "options":
                out[f.name] = listed(getattr(self, f.name), f)
            if f.name == "task":
                out.update({o.name: listed(getattr(self.options, o.name), o) for o in fields(self.options)})
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config", strict: bool = True) -> "TrainConfig":
        """Builds a config from a flat mapping of common settings and the task's own (the task
        named by its `task`, else the default); strings are coerced to each field's type.

        An unknown key is an error naming the closest key; a setting of another task is an error
        naming the tasks that take it, except at that task's default (config.yaml of earlier
        versions listed every task's settings), or anywhere where `strict` is off (resuming an
        old run).
        """
        named = {str(k).replace("-", "_"): v for k, v in values.items()}
        task = named.get("task") or tasks.DEFAULT
        if not tasks.known(task):
            raise ConfigError(f"{source}: " + unknown_message("task", str(task), list(TASK_NAMES)))
        kind = tasks.options(task)
        own_fields = {f.name for f in fields(kind)}
        common, own = {}, {}
        for name, value in named.items():
            if name in COMMON:
                common[name] = value
            elif name in own_fields:
                own[name] = value
            elif not tasks.declaring(name):
                raise ConfigError(f"{source}: " + unknown_message("setting", name, [*COMMON, *own_fields]))
            elif strict and not _at_default(name, value):
                raise ConfigError(f"{source}: {foreign(name, task)}")
        return from_mapping(cls, {**common, "options": from_mapping(kind, own, source)}, source)


COMMON = tuple(f.name for f in fields(TrainConfig) if f.name != "options")  # the settings of every task


def foreign(name: str, task: str) -> str:
    """The refusal of another task's setting `name` under --task `task`."""
    owners = tasks.declaring(name)
    return (f"{flag(name)} is a setting of --task {', '.join(owners[:-1]) + ' or ' if len(owners) > 1 else ''}"
            f"{owners[-1]}; --task {task} does not take it.")


def _at_default(name: str, value: Any) -> bool:
    """Whether `value` is the default of another task's setting `name` (or unset)."""
    if value in (None, "", [], ()):
        return True
    for task in tasks.declaring(name):
        f = tasks.options(task).__dataclass_fields__[name]
        try:
            if coerce(f, value, "") == f.default:
                return True
        except ConfigError:
            pass
    return False


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


def add_task_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    """Adds the flags of `task`'s own settings (`Task.options`) to a training command, as a group
    of their own beside the common ones (`settings.add_arguments(parser, TrainConfig)`)."""
    kind = tasks.options(task)
    if fields(kind):
        add_arguments(parser.add_argument_group(f"settings of --task {task}"), kind, skip=())
    parser.set_defaults(task_settings=tuple(f.name for f in fields(kind)))


def overrides_from_args(args: argparse.Namespace, cls: type = TrainConfig) -> dict[str, Any]:
    """The fields of `cls` that were given as flags (for TrainConfig, the task's own too)."""
    names = [f.name for f in fields(cls)]
    if cls is TrainConfig:
        names += getattr(args, "task_settings", ())
    return {name: getattr(args, name) for name in names if hasattr(args, name)}
