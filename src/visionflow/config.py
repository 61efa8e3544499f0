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

from visionflow.data.resize import DEFAULT_MODE as DEFAULT_RESIZE, MODES as RESIZE_MODES
from visionflow.errors import ConfigError
from visionflow.registry import unknown_message
from visionflow import tasks

TASK_NAMES = tasks.names()


def _opt(default: Any, help: str, choices: tuple[str, ...] | None = None, metavar: str | None = None,
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


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run. Every field is also a `visionflow train --flag`."""

    data: str = _opt("", "Image folder: DIR/train + DIR/validation (or DIR/val), or DIR/<class>/ with --val-split.", metavar="DIR")
    task: str = _opt(tasks.DEFAULT, f"What the model learns: {tasks.described()}.", choices=TASK_NAMES)
    labels: str = _opt("", "The labels CSV of a single-folder DIR: header image,label (classification) or "
                           "image,labels (multi-label; labels separated by spaces), plus any further columns; "
                           "default DIR/labels.csv (classification reads class folders when there is none).",
                       metavar="CSV")
    columns: str = _opt("", "Classification and multi-label: table columns of the labels CSV the model reads "
                            "beside each image: NAME,NAME,... or auto (every column but image and the label); "
                            "numeric or categorical, detected; missing values imputed with an indicator.",
                        metavar="COLS")
    targets: str = _opt("", "Regression: the numeric columns of the labels CSV to predict, NAME,NAME,...; unset: "
                            "every column of numbers (class folders named by numbers: the "
                            "folder's number, 'value').", metavar="COLS", shown="every numeric column")
    threshold: float | None = _opt(None, "Multi-label: one decision threshold for every label; unset: fitted per label "
                                         "on the validation images (highest F1).", kind=float, shown="fitted")
    noise: str = _opt("gaussian:25", "Denoise: the noise made on the fly from clean images, a chain of KIND:LEVEL or "
                                     "KIND:LOW-HIGH (a range trains a blind model); KIND: gaussian (sigma), poisson "
                                     "(photons at white), saltpepper (fraction), jpeg (quality); e.g. gaussian:5-50,jpeg:30-90.",
                       metavar="SPEC")
    degrade: str = _opt("", "Deblur (and denoise): the degradation made on the fly from clean images, links applied in "
                            "order: blur:gaussian:SIGMA, blur:motion:LENGTH[:ANGLE] (random angle when unset), "
                            "blur:defocus:RADIUS, and the --noise kinds; LOW-HIGH ranges draw per image; "
                            "e.g. blur:motion:5-15,gaussian:2-8,jpeg:60-95; unset: deblur blur:gaussian:1-3, "
                            "denoise --noise.", metavar="SPEC", shown="the task's")
    style: tuple[str, ...] = _opt((), "Style transfer: the picture whose style the model paints photos in; give "
                                      "--style once per picture to learn several in one model (predict then "
                                      "picks one with --style NAME).", metavar="IMAGE", shown="none", many=True)
    style_weight: float | None = _opt(None, "Style transfer: weight of the style term against the content term "
                                            "(higher: more of the painting, less of the photo).", kind=float,
                                      shown="the task's")
    scale: int = _opt(2, "Super-resolution: the upscaling factor.", choices=(2, 3, 4))
    pairs: str = _opt("", "Denoise/deblur/superres: a folder of real degraded images, each named as its clean image in DIR "
                          "(same relative path or file stem, any extension); trains on these pairs instead of "
                          "degrading on the fly.", metavar="DIR")
    patch: int | None = _opt(None, "Restoration and style: side of the square training crops (of the clean image); unset: "
                                   "the task's (denoise 64, deblur 64, superres 32 x scale, inpaint 96, style 128).", kind=int, shown="the task's")
    frames: int = _opt(16, "Video: frames taken uniformly over each clip.")
    audio: bool = _opt(False, "Video (--task video): also hear each clip: its sound track as a log-mel spectrogram "
                              "through a small audio network joined with the clip network; clips without sound get "
                              "silence and a flag the model sees.")
    conditional: bool = _opt(False, "GAN: learn one generator per class folder (class-conditional); generate then "
                                    "takes --class.")
    latent_dim: int = _opt(128, "GAN: length of the generator's random latent vector.")
    diffaugment: str = _opt("color,translation,cutout", "GAN: DiffAugment policy, the differentiable augmentation "
                                                        "of every image the discriminator sees (any of color, "
                                                        "translation, cutout, comma-separated, or none).",
                            metavar="POLICY")
    loss: str | None = _opt(None, "Training loss. Restoration: l1, l2 or ssim (0.84 (1 - SSIM) + 0.16 L1). "
                                  "Segmentation: ce (cross-entropy) or ce+dice (plus soft Dice). Regression: "
                                  "huber (default; quadratic within one standard deviation, linear beyond), mse or "
                                  "mae, on standardised targets.",
                            choices=("l1", "l2", "ssim", "ce", "ce+dice", "huber", "mse", "mae"), kind=str,
                            shown="the task's")
    resize: str = _opt(DEFAULT_RESIZE, "How images reach the input size: stretch, crop (centre) or pad (letterbox, grey "
                                  "bars); the model keeps it for predict, serve and exports.", choices=RESIZE_MODES)
    model: str | None = _opt(None, "Registered model name (see `visionflow models`); unset: the recipe's "
                                   "(auto: efficientnet_lite0 where its ImageNet weights are installed or installable, "
                                   "else small_cnn).", metavar="NAME", kind=str)
    weights: str | None = _opt(None, "Backbone weights: none (from scratch), imagenet (offline weights for the "
                                     "efficientnet_lite models, see `visionflow weights`; a download for keras.applications "
                                     "backbones) or a .weights.h5 file; unset: the recipe's.",
                               metavar="none|imagenet|PATH", kind=str)
    head_epochs: int | None = _opt(None, "Pretrained backbones: epochs of training the classifier head alone on the "
                                         "backbone's features, computed once, before the main epochs fine-tune all layers; "
                                         "0 turns it off.", kind=int)
    freeze_epochs: int = _opt(0, "Backbones: epochs with the backbone frozen before fine-tuning all layers "
                                       "(--epochs or more: frozen throughout).")
    fine_tune: str = _opt("auto", "Pretrained backbones after the head phase: auto (fine-tune only where a slice of "
                                  "the training images, held out for this decision, says it pays, and stop when it "
                                  "stops paying), always (every epoch) or never (the head alone).",
                          choices=("auto", "always", "never"))
    versus_scratch: str = _opt("auto", "Pretrained runs of classification: whether small_cnn trained from scratch on "
                                       "the same images challenges the pretrained model on the held-out training "
                                       "images, the better one kept (the other in RUN/runner_up): auto (where the "
                                       "recipe chose the model, from scratch is cheap, about a minute, and the "
                                       "pretrained model is not already all right), always (wherever images were "
                                       "held out) or never.",
                               choices=("auto", "always", "never"))
    fine_tune_lr_scale: float = _opt(0.1, "Backbones: learning-rate multiplier once the backbone is unfrozen (after "
                                          "--head-epochs or --freeze-epochs).")
    recipe: str = _opt("auto", "How unset settings are chosen: auto (from the data and a time budget; see "
                               "visionflow.recipe) or tutorial (150x150, 15 epochs, Adam, constant rate).",
                       choices=("auto", "tutorial"))
    epochs: int | None = _opt(None, "Maximum number of epochs.", kind=int)
    batch_size: int | None = _opt(None, "Images per training step.", kind=int, shown="the task's: 32, gan 64")
    image_size: tuple[int, int] | None = _opt(None, "Model input size: N for NxN, or HxW.", metavar="N|HxW", kind=tuple)
    optimizer: str | None = _opt(None, "Optimizer.", choices=("adam", "adamw", "sgd"), kind=str)
    learning_rate: float | None = _opt(None, "Initial learning rate.", kind=float)
    weight_decay: float | None = _opt(None, "Decoupled weight decay (adamw only).", kind=float)
    lr_schedule: str | None = _opt(None, "Learning-rate schedule, applied per epoch.",
                                   choices=("constant", "cosine", "plateau"), kind=str)
    augment: str | None = _opt(None, "Augmentation preset: none, light (flips, small turns, zooms, shifts), strong "
                                     "(more of them, plus contrast) or gentle (zooms, shifts and contrast: no flips "
                                     "or turns, the regression default, since they change angles).",
                               choices=("none", "light", "strong", "gentle"), kind=str)
    mixup: float | None = _opt(None, "Mixup alpha for training batches (blend pairs of images and their labels); 0 turns it off.",
                               kind=float)
    dropout: float | None = _opt(None, "Dropout before the classifier; unset: the recipe's, or the model's own default.",
                                 kind=float)
    l1: float = _opt(0.0, "L1 penalty on conv and dense kernels.")
    l2: float = _opt(0.0, "L2 penalty on conv and dense kernels.")
    label_smoothing: float | None = _opt(None, "Label smoothing for the cross-entropy loss.", kind=float)
    class_weight: str = _opt("none", "Class weights: none, or auto (inverse class frequency) for imbalanced data.", choices=("none", "auto"))
    patience: int | None = _opt(None, "Early stopping: epochs without improvement of --monitor before stopping; 0 turns it off.",
                                kind=int)
    monitor: str | None = _opt(None, "Validation metric that picks the best model and drives early stopping; unset: "
                                     "the task's (val_accuracy for classification, val_loss for multilabel, val_psnr for restoration, "
                                     "val_map50 for detection, val_miou for segmentation).",
                               choices=("val_accuracy", "val_loss", "val_psnr", "val_map50", "val_miou"), kind=str,
                               shown="the task's")
    keep: str | None = _opt(None, "Which epoch model.keras holds: best (by --monitor, on the validation images, which "
                                  "flatters its figures) or last.", choices=("best", "last"), kind=str)
    time_budget: float | None = _opt(None, "Wall time of the whole run (data scan, feature pass, epochs, checkpoints, "
                                           "evaluation, report): 90s, 3m, 1h or minutes; the run stops before an epoch "
                                           "that would overrun it (a cosine schedule then ends there); 0 means no limit. "
                                           "Less time, fewer epochs (and, pretrained, no fine-tuning); unset: the "
                                           "recipe's, from the data's size.",
                                     kind=float, metavar="DURATION", aliases=("--budget",))
    dp: bool = _opt(False, "Differentially private training (DP-SGD: every training image's gradient clipped, "
                           "Gaussian noise added), the noise solved for --target-epsilon over the planned epochs; "
                           "classification and multilabel models. Batch normalisation becomes group normalisation "
                           "(from scratch) or stays frozen (pretrained).")
    target_epsilon: float = _opt(8.0, "DP: the privacy budget epsilon spent by the end of the planned epochs.")
    dp_clip: float = _opt(1.0, "DP: the L2 norm each training image's gradient is clipped to.")
    dp_delta: str = _opt("auto", "DP: delta of (epsilon, delta)-privacy; auto: 1 / (10 x training images).",
                         metavar="DELTA|auto")
    dp_accountant: str = _opt("pld", "DP: the privacy accountant (Google's dp-accounting): pld (privacy loss "
                                     "distributions, the tightest) or rdp (Renyi DP, as most papers report).",
                              choices=("pld", "rdp"))
    teacher: str = _opt("", "Distillation: a trained classification run whose softened answers (beside the labels) "
                            "the model learns from; see visionflow distill.", metavar="RUN", shown="none")
    distill_temperature: float = _opt(4.0, "Distillation: the temperature T that softens the teacher's answers.")
    distill_alpha: float = _opt(0.8, "Distillation: weight of the teacher's soft targets in the loss (the labels "
                                     "get 1 - alpha).")
    calibrate: bool = _opt(False, "Fit temperature scaling on the validation set after training; predict, serve and exports use it.")
    val_split: float = _opt(0.0, "Fraction of each class held out for validation when DIR has no validation folder.")
    cache: str = _opt("memory", "Cache of decoded, resized images: memory, disk (in the run folder) or none.", choices=("memory", "disk", "none"))
    seed: int = _opt(42, "Random seed for the split, shuffling, augmentation and initial weights.")
    project: str = _opt("runs", "Folder that holds the run folders.", metavar="DIR")
    name: str = _opt("", "Run folder name; unset numbers them exp1, exp2, ...", metavar="NAME")

    def __post_init__(self) -> None:
        if self.image_size is not None:
            object.__setattr__(self, "image_size", parse_image_size(self.image_size))
        for f in fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value is not None and value not in choices:
                raise ConfigError(unknown_message(f"{f.name} value", str(value), list(choices)))
        if self.batch_size is None:
            object.__setattr__(self, "batch_size", tasks.get(self.task).batch_size)
        unset = lambda name: getattr(self, name) is None  # noqa: E731 - the recipe fills it later
        _check(unset("epochs") or self.epochs >= 1, f"epochs must be at least 1. Received: epochs={self.epochs}")
        _check(self.batch_size >= 1, f"batch_size must be at least 1. Received: batch_size={self.batch_size}")
        _check(unset("learning_rate") or self.learning_rate > 0,
               f"learning_rate must be positive. Received: learning_rate={self.learning_rate}")
        _check(self.threshold is None or 0 < self.threshold < 1,
               f"threshold must be between 0 and 1. Received: threshold={self.threshold}")
        _check(unset("patch") or self.patch >= 8, f"patch must be at least 8. Received: patch={self.patch}")
        _check(self.frames >= 1, f"frames must be at least 1. Received: frames={self.frames}")
        _check(self.latent_dim >= 1, f"latent_dim must be at least 1. Received: latent_dim={self.latent_dim}")
        _check(0 <= self.val_split < 1, f"val_split must be in [0, 1). Received: val_split={self.val_split}")
        _check(self.dropout is None or 0 <= self.dropout < 1, f"dropout must be in [0, 1). Received: dropout={self.dropout}")
        _check(unset("label_smoothing") or 0 <= self.label_smoothing < 1,
               f"label_smoothing must be in [0, 1). Received: label_smoothing={self.label_smoothing}")
        for name in ("l1", "l2", "weight_decay", "time_budget", "freeze_epochs", "head_epochs", "patience", "mixup"):
            _check(unset(name) or getattr(self, name) >= 0,
                   f"{name} must not be negative. Received: {name}={getattr(self, name)}")
        _check(unset("style_weight") or self.style_weight > 0,
               f"style_weight must be positive. Received: style_weight={self.style_weight}")
        _check(self.target_epsilon > 0, f"target_epsilon must be positive. Received: target_epsilon={self.target_epsilon}")
        _check(self.dp_clip > 0, f"dp_clip must be positive. Received: dp_clip={self.dp_clip}")
        self.delta_value()  # checks dp_delta
        _check(self.distill_temperature > 0,
               f"distill_temperature must be positive. Received: distill_temperature={self.distill_temperature}")
        _check(0 <= self.distill_alpha <= 1, f"distill_alpha must be in [0, 1]. Received: distill_alpha={self.distill_alpha}")
        _check(self.fine_tune_lr_scale > 0, f"fine_tune_lr_scale must be positive. Received: {self.fine_tune_lr_scale}")
        _check(not (self.freeze_epochs and self.head_epochs),
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
        _check(0 < value < 1, f"dp_delta must be auto or a number between 0 and 1, e.g. 1e-5. Received: "
                              f"dp_delta={self.dp_delta!r}")
        return value

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["image_size"] = None if self.image_size is None else list(self.image_size)
        for f in fields(self):
            if f.metadata.get("many"):
                out[f.name] = list(getattr(self, f.name))
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
    return f.metadata.get("kind") or type(f.default)


def _coerce(f: dataclasses.Field, value: Any, source: str) -> Any:
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
            "x".join(map(str, default)) if isinstance(default, tuple) else default))
        parser.add_argument(
            flag, *f.metadata.get("aliases", ()),
            dest=f.name,
            default=argparse.SUPPRESS,
            type=str,
            choices=[str(c) for c in f.metadata["choices"]] if f.metadata.get("choices") else None,
            metavar=f.metadata.get("metavar") or (None if f.metadata.get("choices") else f.name.upper()),
            help=f"{f.metadata['help']} (default: {shown})",
        )


def overrides_from_args(args: argparse.Namespace, cls: type = TrainConfig) -> dict[str, Any]:
    """The fields of `cls` that were given as flags."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
