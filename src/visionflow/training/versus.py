"""Pretrained or from scratch, decided on the held-out slice where both are cheap.

A pretrained backbone is not always the better start: on a tiny folder far from ImageNet (red
against blue, some of them greyscale) a fine-tuned EfficientNet-Lite0 called red video frames
blue where small_cnn from scratch got every one; on scikit-learn's 8x8 digits (32 px PNGs)
small_cnn reached 1.000 in 2 minutes where EfficientNet-Lite0 reached 0.981 in 4.5. So where from
scratch is cheap too (`recipe.scratch_is_cheap`: small_cnn's 30 epochs predicted within a
minute, as for tens of photos or a thousand or two small scans) and the pretrained model has not
already answered its slice (the training images held out by `training.decision`) all right with
fair confidence, `small_cnn` trains from scratch on the same images in the time kept for it and
is scored on the same slice. The better one on the slice (accuracy, then loss by `LOSS_RATIO` on
a tie; the pretrained one stays where they are level) becomes the run's model; the other is kept
in RUN/runner_up. The validation images never decide.

`--versus-scratch auto` does this where the recipe chose the model and weights (neither --model
nor --weights given); `always` wherever a slice was held out; `never` not at all. This module
holds the rules; `training.challenge` trains the challenger and moves the files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LOSS_RATIO = 0.5  # on equal slice accuracy, from scratch wins only with at most this share of the loss


@dataclass(frozen=True)
class Score:
    """A candidate's figures on the held-out slice."""

    model: str
    accuracy: float
    loss: float

    def to_dict(self) -> dict:
        return {"model": self.model, "slice_accuracy": round(self.accuracy, 4), "slice_loss": round(self.loss, 4)}


def scratch_wins(pretrained: Score, scratch: Score) -> bool:
    """True where the from-scratch model is better on the slice: more right answers, or as many at
    no more than `LOSS_RATIO` of the pretrained one's loss (the pretrained model keeps a tie)."""
    if not math.isfinite(scratch.loss):
        return False
    if scratch.accuracy != pretrained.accuracy:
        return scratch.accuracy > pretrained.accuracy
    return scratch.loss <= LOSS_RATIO * pretrained.loss


def pretrained_score(cfg, state: dict) -> Score | None:
    """The kept pretrained model's figures on the slice, from what the run recorded (None: no slice).

    Where fine-tuning ran, the kept epoch is the one with the lowest slice loss (the head alone is
    epoch 0); where it was skipped, the head was scored on the slice before it trained again on it."""
    decided = state.get("fine_tune") or {}
    if not decided.get("slice_images"):
        return None
    head = Score(cfg.model, float(decided.get("head_slice_accuracy") or 0.0),
                 float(decided.get("head_slice_loss", math.inf)))
    best = state.get("best") or {}
    if best.get("metric") != "slice_loss" or not best.get("epoch"):
        return head
    row = next((r for r in state["history"] if r["epoch"] == best["epoch"]), {})
    return Score(cfg.model, float(row.get("slice_accuracy", 0.0)), float(best["value"]))


def _may_run(cfg, chose_model: bool, task) -> bool:
    """Whether the settings let a from-scratch model challenge this run (of `task`) at all."""
    from visionflow.models import MODELS

    if cfg.versus_scratch == "never" or (cfg.versus_scratch == "auto" and not chose_model):
        return False
    if getattr(cfg, "columns", "") or cfg.dp or cfg.teacher or cfg.fine_tune != "auto":
        return False  # the slice is held out only by --fine-tune auto
    return bool(MODELS.get(cfg.model).backbone) and task.scratch_challenger


def aside_seconds(cfg, folder, chose_model: bool, task) -> float:
    """Seconds a new run keeps from its epochs for the from-scratch challenger: what the recipe
    predicts small_cnn needs (`recipe.scratch_seconds`), where one may come (0 where none will)."""
    from visionflow.recipe import DataFacts, scratch_is_cheap, scratch_seconds

    if not _may_run(cfg, chose_model, task):
        return 0.0
    facts = DataFacts.of(folder)
    return scratch_seconds(facts) if cfg.versus_scratch == "always" or scratch_is_cheap(facts) else 0.0


def why_not(fitted, chose_model: bool) -> str | None:
    """Why no from-scratch model challenges this run (None: one does); "" where saying so would be noise."""
    from visionflow.recipe import DataFacts, scratch_is_cheap
    from visionflow.training.decision import CONFIDENT_LOSS

    cfg, state = fitted.cfg, fitted.state
    if not _may_run(cfg, chose_model, fitted.task) or state.get("workers", 1) > 1:
        return ""
    score = pretrained_score(cfg, state)
    if score is None:
        return "" if cfg.versus_scratch == "auto" else "--versus-scratch: no training images were held out to compare on"
    if cfg.versus_scratch == "auto":
        if not scratch_is_cheap(DataFacts.of(fitted.folder)):
            return ""
        if score.accuracy >= 1.0 and score.loss <= CONFIDENT_LOSS:
            return ""  # it already answers every slice image right: from scratch could only tie
    return None
