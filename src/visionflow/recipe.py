"""Training recipes: the settings a run leaves unset, chosen from the data it trains on.

`TrainConfig` leaves the recipe-managed settings (model, weights, image size, epochs, head epochs,
time budget, optimizer, learning rate, weight decay, schedule, augmentation, dropout, label
smoothing, early stopping, which epoch to keep) unset by default; `resolve` fills each unset one
from the named recipe once the data has been scanned. Every explicit flag or config value wins.
The resolved settings are written into the run's config.yaml, so a run repeats (and resumes)
without the recipe.

Recipes:
- `auto` (the default), transfer learning where pretrained weights exist: efficientnet_lite0 with
  its offline ImageNet weights when they are installed or installable (`visionflow weights`), or
  whatever backbone and weights were given. Why each choice (figures in bench/README.md):
  - Head first, on cached features: one forward pass of the frozen backbone over the training and
    validation images, then `HEAD_EPOCHS` cheap epochs of the classifier alone (seconds, not
    minutes), so fine-tuning starts from a head that already fits instead of one whose random
    gradients would disturb the pretrained layers. Hymenoptera: 0.941 from the head alone in
    11 s (0.765 from scratch); flowers5: 0.772, then 0.811 after fine-tuning.
  - Then, only where it pays (`training.decision`): a slice of the training images is held out
    of the head's training; when the head answers all of it right with fair confidence, or the
    budget has no room, the head alone is kept (trained again on every image). Otherwise every
    layer but batch normalisation (whose ImageNet statistics stay: small batches of a few
    thousand images estimate them worse) fine-tunes at a tenth of the head's learning rate,
    light augmentation, a cosine schedule, each epoch scored on the slice, stopping when the
    slice's loss stops improving and keeping the epoch it liked best (the head alone included).
    Hymenoptera: the head answered its 37 slice images all right; fine-tuning them anyway for 7
    epochs cost 70 s and ended at 0.935 against the head's 0.941.
  - Then, where from scratch is cheap (`scratch_is_cheap`), small_cnn from scratch challenges the
    pretrained model on the same slice unless the latter already answers it all right and sure;
    the better one is kept (digits, 32 px scans: small_cnn 0.986 against Lite0's 0.982 on the
    slice, 0.994 on validation in 2.9 min; Lite0 alone: 0.981 in 4.5).
  - A wall-time budget chosen by data size (`--budget` to change): what the native resolution
    (at most `UPSCALE_AT_MOST` times the images' size) needs for the feature pass and
    `DECIDING_EPOCHS` fine-tuning epochs (`transfer_seconds`, from the measured throughput in
    TRANSFER_RATES), plus small_cnn's time where it may challenge (`scratch_seconds`), between
    `MIN_TRANSFER_BUDGET_MINUTES` and `TRANSFER_BUDGET_MINUTES`; a lower resolution where even
    that cap is too short.
  Without weights (and with `--weights none`) it says so in one line and trains from scratch:
- `auto` from scratch: the budget recipe measured on this project's 2-core benchmarks, adapted
  to the data. Why each choice (figures in bench/README.md):
  - Resolution: the largest of 64/96/128 px (never above the images' own median short side)
    at which about `MIN_BUDGET_EPOCHS` epochs fit in the time budget, from small_cnn's measured
    throughput (~255 img/s at 64 px, scaling with pixel count). More epochs at low resolution
    beat fewer at high resolution on flowers5 (64 px: 0.778 in 15 minutes, 128 px: 0.716), while
    a few hundred images afford 128 px. Images smaller than 64 px train at their own size.
  - Time: a 15-minute budget with a cosine schedule fitted to it (the run stops before an epoch
    that would overrun it) and at most one epoch per `IMAGES_PER_EPOCH` training images, between
    `MIN_EPOCHS` and `MAX_EPOCHS`. Small photo sets overfit a long schedule: hymenoptera (245
    training images, 128 px) ended at 0.765 after 30 epochs, 0.693 after 45 and 0.719 after 91,
    its validation loss rising from epoch ~16 on (0.51 -> 0.81) while training accuracy reached
    0.96. The generated 5-per-class sets reach 100% by epoch 1-3. From ~1,000 images up the time
    budget, not the epoch count, sets the length. No early stopping: the learning rate decays to
    1% by the last epoch.
  - Keeping the last epoch: with the schedule ending near zero the last epoch is as good as any,
    and picking the best epoch on the validation images would overstate its accuracy.
  - Regularisation: AdamW (2e-3, weight decay 5e-4), strong augmentation, dropout 0.5: the
    combination that let 60 epochs count on flowers5 (0.741 -> 0.778). Label smoothing 0.1 only
    from `SMOOTHING_MIN_IMAGES` images: on tiny sets it would cap the confidence of easy answers.
- `auto` with `--dp` (DP-SGD): the same choices, except that a pretrained backbone stays frozen
  and only the head learns (`DP_TRANSFER`: more epochs at a higher rate, since each noisy step
  moves it less), no dropout (the noise regularises) and no mixup (it would mix two images
  into one gradient).
- `tutorial`: the settings of the classic Keras tutorial style (150x150, 15 epochs, Adam 1e-3 at
  a constant rate, light augmentation, early stopping after 5 epochs, keep the best epoch).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from visionflow.registry import Registry

MANAGED = ("model", "weights", "image_size", "epochs", "head_epochs", "time_budget", "optimizer", "learning_rate",
           "weight_decay", "lr_schedule", "augment", "mixup", "dropout", "label_smoothing", "patience", "keep")

BUDGET_MINUTES = 15.0
MIN_EPOCHS, MAX_EPOCHS, IMAGES_PER_EPOCH = 30, 100, 12
MIN_BUDGET_EPOCHS = 40
SIZES = (64, 96, 128)
IMAGES_PER_S_AT_64 = 255.0  # small_cnn training throughput at 64x64 on the 2-core benchmark machine
SMOOTHING_MIN_IMAGES = 1000

# --dp with a pretrained backbone: the head alone, frozen features (see privacy.training.settle).
DP_TRANSFER = {"epochs": 30, "learning_rate": 3e-3, "head_epochs": 0}

SCRATCH_MODEL = "small_cnn"
PRETRAINED_MODEL = "efficientnet_lite0"
TRANSFER_BUDGET_MINUTES = 10.0  # the most a default transfer budget is; larger sets get a lower resolution
MIN_TRANSFER_BUDGET_MINUTES = 2.0
DECIDING_EPOCHS = 4  # fine-tuning epochs a budget leaves room for: 2 to judge, 2 of patience (training.decision)
RUN_OVERHEAD_S = 35.0  # start-up, data scan, head epochs, checkpoints, evaluation and report (hymenoptera: ~30 s)
VALIDATION_SHARE = 0.25
PREDICTED = "_predicted_seconds"  # what a recipe predicts the run takes (said in the recipe line, not a setting)
CHALLENGED = "_challenged"  # whether the prediction counts small_cnn from scratch challenging it (not a setting)
HEAD_EPOCHS = 40
HEAD_MIN_STEPS = 300  # small sets get more head epochs: 40 epochs of 2 steps leave a random head
TRANSFER_EPOCHS = 10
# efficientnet_lite0 on the 2-core benchmark machine (flowers5 runs), images/s: (feature pass,
# fine-tuning with batch normalisation frozen).
TRANSFER_RATES = {224: (95.0, 27.0), 160: (135.0, 54.0), 128: (270.0, 87.0)}
UPSCALE_AT_MOST = 4  # the transfer resolution is at most this many times the images' median short side
SCRATCH_OVERHEAD_S = 15.0  # small_cnn from scratch challenging a transfer run: build, tracing, scoring
CHEAP_SCRATCH_S = 60.0  # small_cnn from scratch predicted to take at most this challenges a transfer run by default


@dataclass(frozen=True)
class DataFacts:
    """What a recipe looks at: training image count, classes, median short side in pixels."""

    images: int
    classes: int
    short_side: int
    noun: str = "classes"  # what `classes` counts: classes, or labels of multi-label data
    height: int = 0  # median height and width of the training images (0: unknown)
    width: int = 0

    @classmethod
    def of(cls, folder) -> "DataFacts":
        train = folder.splits["train"]
        known = [r for r in train if r.width and r.height]
        sides = [min(r.width, r.height) for r in known]
        return cls(len(train), len(folder.classes), int(statistics.median(sides)) if sides else 0,
                   folder.report.get("noun", "classes"),
                   int(statistics.median(r.height for r in known)) if known else 0,
                   int(statistics.median(r.width for r in known)) if known else 0)


RECIPES: Registry = Registry("recipe")


@RECIPES.register("tutorial")
def tutorial(facts: DataFacts | None, cfg=None) -> dict[str, Any]:
    """The classic tutorial settings, whatever the data."""
    return {"model": SCRATCH_MODEL, "weights": "none", "image_size": (150, 150), "epochs": 15, "head_epochs": 0,
            "time_budget": 0.0, "optimizer": "adam", "learning_rate": 1e-3, "weight_decay": 1e-4,
            "lr_schedule": "constant", "augment": "light", "mixup": 0.0, "dropout": None, "label_smoothing": 0.0,
            "patience": 5, "keep": "best"}


@RECIPES.register("auto")
def auto(facts: DataFacts, cfg=None) -> dict[str, Any]:
    """Transfer learning where pretrained weights exist, else the from-scratch budget recipe (module docstring)."""
    model, weights, _ = pretrained_choice(cfg)
    private = getattr(cfg, "dp", False)
    if weights != "none":
        values = _transfer(facts, model, getattr(cfg, "batch_size", None) or 32, getattr(cfg, "time_budget", None))
        if getattr(cfg, "freeze_epochs", 0):  # the head trains with the frozen backbone in the loop instead
            values["head_epochs"] = 0
        if private:
            values.update(DP_TRANSFER, dropout=0.0, mixup=0.0)
        return {"model": model, "weights": weights, **values}
    side = _resolution(facts)
    if private:
        return {**_scratch(facts, model, side), "dropout": 0.0}
    return _scratch(facts, model, side)


def _scratch(facts: DataFacts, model: str, side: int) -> dict[str, Any]:
    return {"model": model, "weights": "none", "image_size": (side, side),
            "epochs": min(MAX_EPOCHS, max(MIN_EPOCHS, facts.images // IMAGES_PER_EPOCH)), "head_epochs": 0,
            "time_budget": BUDGET_MINUTES, "optimizer": "adamw", "learning_rate": 2e-3, "weight_decay": 5e-4,
            "lr_schedule": "cosine", "augment": "strong", "mixup": 0.0, "dropout": 0.5,
            "label_smoothing": _smoothing(facts), "patience": 0, "keep": "last"}


def pretrained_choice(cfg) -> tuple[str, str, str | None]:
    """(model, weights, why scratch) for the auto recipe: the given model and weights, with the unset
    ones chosen by whether offline ImageNet weights are available; `why` is the line to print when
    the run falls back to training from scratch (None otherwise)."""
    from visionflow import pretrained
    from visionflow.models import MODELS

    model = getattr(cfg, "model", None)
    weights = getattr(cfg, "weights", None)
    if weights is not None:
        return model or (PRETRAINED_MODEL if weights != "none" else SCRATCH_MODEL), weights, None
    candidate = model or PRETRAINED_MODEL
    if not MODELS.get(candidate).backbone:
        return candidate, "none", None
    if not pretrained.auto_allowed():
        why = f"${pretrained.AUTO_ENV} is off"
    elif candidate in pretrained.SOURCES and pretrained.available(candidate):
        return candidate, "imagenet", None
    elif candidate in pretrained.SOURCES:
        why = f"no ImageNet weights for {candidate} on this machine ({pretrained.install_hint(candidate)})"
    else:
        why = f"{candidate}'s ImageNet weights download only when asked (--weights imagenet)"
    return model or SCRATCH_MODEL, "none", why + f"; training {model or SCRATCH_MODEL} from scratch"


def transfer_seconds(facts: DataFacts, side: int, fine_tune_epochs: int) -> float:
    """Predicted wall time of a transfer run at `side` px: start-up, the feature pass over the
    training and (about a quarter as many) validation images, the head, `fine_tune_epochs`
    fine-tuning epochs (each scored on the validation images), the evaluation and report."""
    features, steps = TRANSFER_RATES[side]
    val = VALIDATION_SHARE * facts.images
    epoch = facts.images / steps + val / features
    return RUN_OVERHEAD_S + (facts.images + val) / features + fine_tune_epochs * epoch


def scratch_seconds(facts: DataFacts) -> float:
    """Predicted wall time of small_cnn from scratch challenging a small transfer run
    (`training.versus`): start-up and `MIN_EPOCHS` epochs at the from-scratch recipe's resolution."""
    side = _resolution(facts)
    return SCRATCH_OVERHEAD_S + MIN_EPOCHS * facts.images / (IMAGES_PER_S_AT_64 * (SIZES[0] / side) ** 2)


def scratch_is_cheap(facts: DataFacts) -> bool:
    """Whether small_cnn from scratch costs little enough on this data (`CHEAP_SCRATCH_S`) to try it
    beside a pretrained model by default (`training.versus`)."""
    return scratch_seconds(facts) <= CHEAP_SCRATCH_S


def _transfer(facts: DataFacts, model: str, batch_size: int, budget: float | None = None) -> dict[str, Any]:
    """The transfer settings; `budget` (minutes, None: chosen here from the data's size) sets the
    resolution: the native one where the feature pass and `DECIDING_EPOCHS` fine-tuning epochs fit
    (and small_cnn from scratch after them, where the data is small enough to try it), never more
    than `UPSCALE_AT_MOST` times the images' own size."""
    from visionflow.models import MODELS

    native = MODELS.get(model).native_size or max(TRANSFER_RATES)
    sizes = sorted((s for s in TRANSFER_RATES if s <= native), reverse=True) or [min(TRANSFER_RATES)]
    if facts.short_side:  # upscaling further adds pixels, not detail
        sizes = [s for s in sizes if s <= UPSCALE_AT_MOST * facts.short_side] or [min(sizes)]
    challenger = scratch_seconds(facts) if scratch_is_cheap(facts) else 0.0
    if budget is None:  # by data size: what the native resolution needs, within the default's bounds
        needed = (transfer_seconds(facts, sizes[0], DECIDING_EPOCHS) + challenger) / 60
        budget = float(min(TRANSFER_BUDGET_MINUTES, max(MIN_TRANSFER_BUDGET_MINUTES, math.ceil(needed))))
    side = next((s for s in sizes
                 if not budget or transfer_seconds(facts, s, DECIDING_EPOCHS) + challenger <= budget * 60), sizes[-1])
    head_epochs = max(HEAD_EPOCHS, math.ceil(HEAD_MIN_STEPS / math.ceil(max(1, facts.images) / batch_size)))
    return {"image_size": (side, side), "epochs": TRANSFER_EPOCHS, "head_epochs": head_epochs,
            "time_budget": budget, "optimizer": "adamw", "learning_rate": 1e-3, "weight_decay": 1e-4,
            "lr_schedule": "cosine", "augment": "light", "mixup": 0.0, "dropout": None,
            "label_smoothing": _smoothing(facts), "patience": 0, "keep": "last",
            PREDICTED: min(transfer_seconds(facts, side, DECIDING_EPOCHS) + challenger, budget * 60 or math.inf),
            CHALLENGED: bool(challenger)}


def _smoothing(facts: DataFacts) -> float:
    return 0.1 if facts.images >= SMOOTHING_MIN_IMAGES else 0.0


def _resolution(facts: DataFacts) -> int:
    if 0 < facts.short_side < SIZES[0]:
        return max(32, 8 * math.ceil(facts.short_side / 8))
    best = SIZES[0]
    for side in SIZES:
        if facts.short_side and side > facts.short_side:
            break
        rate = IMAGES_PER_S_AT_64 * (SIZES[0] / side) ** 2
        if rate * BUDGET_MINUTES * 60 / max(1, facts.images) >= MIN_BUDGET_EPOCHS:
            best = side
    return best


def fixed(cfg, name: str = "tutorial"):
    """`cfg` with its unset managed settings (dropout aside) taken from recipe `name` without
    looking at data: for runs recorded before recipes existed (they had the tutorial values) and
    for tuning trials, which must be short and comparable."""
    values = RECIPES.get(name)(None, cfg)
    return cfg.replace(**{k: v for k, v in values.items() if getattr(cfg, k) is None and k != "dropout"})


def resolve(cfg, facts: DataFacts):
    """(config with every unset managed setting filled by `cfg.recipe`, one line saying what was
    chosen from what, followed by a second line when `auto` falls back to training from scratch
    and why; None when nothing was unset)."""
    unset = [name for name in MANAGED if getattr(cfg, name) is None]
    if not [name for name in unset if name != "dropout"]:
        return cfg, None
    values = RECIPES.get(cfg.recipe)(facts, cfg)
    chosen = cfg.replace(**{name: values[name] for name in unset})
    given = [name for name in MANAGED if name not in unset]
    predicted = values.get(PREDICTED)
    line = (f"recipe {cfg.recipe}: {facts.images:,} training images, {facts.classes} {facts.noun}, median short side "
            f"{facts.short_side} px -> {describe(chosen, unset)}" + (f"; given: {', '.join(given)}" if given else "")
            + (f"; predicted about {predicted / 60:.1f} min (fine-tuning"
               + (", and small_cnn from scratch to compare," if values.get(CHALLENGED) else "")
               + " only where it pays; --budget trades time for accuracy)" if predicted else ""))
    if cfg.recipe == "auto":
        why = pretrained_choice(cfg)[2]
        if why:
            line = f"{line}\n{why}"
    return chosen, line


def describe(cfg, names: list[str]) -> str:
    """The settings `names` of `cfg` in a few words, in MANAGED order."""
    words = {
        "model": lambda: cfg.model,
        "weights": lambda: {"none": "from scratch", "imagenet": "ImageNet weights"}.get(cfg.weights, f"weights {cfg.weights}"),
        "head_epochs": lambda: f"head {cfg.head_epochs} epochs on cached features" if cfg.head_epochs else "",
        "image_size": lambda: "x".join(map(str, cfg.image_size)),
        "epochs": lambda: f"at most {cfg.epochs} epochs",
        "time_budget": lambda: f"{cfg.time_budget:g} min budget (wall time)" if cfg.time_budget else "no time budget",
        "optimizer": lambda: {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}[cfg.optimizer],
        "learning_rate": lambda: f"learning rate {cfg.learning_rate:g}",
        "weight_decay": lambda: f"weight decay {cfg.weight_decay:g}",
        "lr_schedule": lambda: f"{cfg.lr_schedule} schedule",
        "augment": lambda: f"{cfg.augment} augmentation",
        "mixup": lambda: f"mixup {cfg.mixup:g}" if cfg.mixup else "no mixup",
        "dropout": lambda: "the model's dropout" if cfg.dropout is None else f"dropout {cfg.dropout:g}",
        "label_smoothing": lambda: f"label smoothing {cfg.label_smoothing:g}",
        "patience": lambda: f"early stopping after {cfg.patience}" if cfg.patience else "no early stopping",
        "keep": lambda: f"{cfg.keep} epoch kept",
    }
    return ", ".join(w for w in (words[name]() for name in MANAGED if name in names) if w)
