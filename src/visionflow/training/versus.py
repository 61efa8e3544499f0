"""Pretrained or from scratch, decided on the held-out slice where both are cheap.

A pretrained backbone is not always the better start: on a tiny folder far from ImageNet (red
against blue, some of them greyscale) a fine-tuned EfficientNet-Lite0 called red video frames
blue where small_cnn from scratch got every one; on scikit-learn's 8x8 digits (32 px PNGs)
small_cnn reached 1.000 in 2 minutes where EfficientNet-Lite0 reached 0.981 in 4.5. So where both
are cheap (`small`: `SMALL_FOLDER` training images or fewer, or images of `SMALL_SIDE` px or less)
and the pretrained model has not already answered its slice (the training images
held out by `training.decision`) all right with fair confidence, `small_cnn` trains from scratch
on the same images in the time the budget has left and is scored on the same slice. The better
one on the slice (accuracy, then loss by `LOSS_RATIO` on a tie; the pretrained one stays where
they are level) becomes the run's model; the other is kept in RUN/runner_up. The validation
images never decide.

`--versus-scratch auto` does this where the recipe chose the model and weights (neither --model
nor --weights given); `always` wherever a slice was held out; `never` not at all.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, replace
from typing import Callable

SMALL_FOLDER = 600  # training images; beyond, from scratch needs more time than a default budget has
SMALL_SIDE = 64  # px (median short side): images this small train from scratch fast, and far from ImageNet's
SMALL_IMAGES_FOLDER = 5000  # ... up to this many of them
MIN_SECONDS = 20.0  # the least time worth giving the from-scratch model (build, trace, a few epochs)
MOST_SECONDS = 120.0  # what it gets at most where the run has no time budget
LOSS_RATIO = 0.5  # on equal slice accuracy, from scratch wins only with at most this share of the loss
RUNNER_UP = "runner_up"
MOVED = ("model.keras", "config.yaml", "labels.json", "history.csv")  # what a candidate is, as a run folder


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


def small(facts) -> bool:
    """Whether from scratch is cheap enough on data of these `recipe.DataFacts` to try it by default."""
    return facts.images <= SMALL_FOLDER or (0 < facts.short_side <= SMALL_SIDE and facts.images <= SMALL_IMAGES_FOLDER)


def _may_run(cfg, chose_model: bool) -> bool:
    """Whether the settings let a from-scratch model challenge this run at all."""
    from visionflow import tasks
    from visionflow.models import MODELS

    if cfg.versus_scratch == "never" or (cfg.versus_scratch == "auto" and not chose_model):
        return False
    if cfg.columns or cfg.dp or cfg.teacher or cfg.fine_tune != "auto":
        return False  # the slice is held out only by --fine-tune auto
    return bool(MODELS.get(cfg.model).backbone) and tasks.get(cfg.task).scratch_challenger


def aside_seconds(cfg, folder, chose_model: bool) -> float:
    """Seconds a new run keeps from its epochs for the from-scratch challenger: what the recipe
    predicts small_cnn needs (`recipe.scratch_seconds`), where one may come (0 where none will)."""
    from visionflow.recipe import DataFacts, scratch_seconds

    if not _may_run(cfg, chose_model):
        return 0.0
    facts = DataFacts.of(folder)
    return scratch_seconds(facts) if cfg.versus_scratch == "always" or small(facts) else 0.0


def why_not(fitted, chose_model: bool) -> str | None:
    """Why no from-scratch model challenges this run (None: one does); "" where saying so would be noise."""
    from visionflow.recipe import DataFacts
    from visionflow.training.decision import CONFIDENT_LOSS

    cfg, state = fitted.cfg, fitted.state
    if not _may_run(cfg, chose_model) or state.get("workers", 1) > 1:
        return ""
    score = pretrained_score(cfg, state)
    if score is None:
        return "" if cfg.versus_scratch == "auto" else "--versus-scratch: no training images were held out to compare on"
    if cfg.versus_scratch == "auto":
        if not small(DataFacts.of(fitted.folder)):
            return ""
        if score.accuracy >= 1.0 and score.loss <= CONFIDENT_LOSS:
            return ""  # it already answers every slice image right: from scratch could only tie
    return None


def challenge(fitted, chose_model: bool, say: Callable[[str], None]):
    """`fitted` (a finished pretrained run) or, where a from-scratch small_cnn trained in the time
    left does better on the slice, the Fitted of that model moved into the run folder."""
    from visionflow.training.decision import hold_out

    why = why_not(fitted, chose_model)
    if why is not None:
        if why:
            say(why)
        return fitted
    seconds = _seconds_left(fitted)
    if seconds < MIN_SECONDS:
        say(f"versus scratch: {max(0.0, seconds):.0f}s of the budget left, too little to train small_cnn from "
            f"scratch for comparison (--budget longer to have it)")
        return fitted
    held_out = hold_out(fitted.folder.splits["train"], fitted.cfg.seed)
    return _run(fitted, held_out, seconds, say)


def _seconds_left(fitted) -> float:
    """What the budget leaves for the from-scratch model, the pretrained run's evaluation kept."""
    from visionflow.recipe import TRANSFER_RATES

    clock, cfg = fitted.clock, fitted.cfg
    features = TRANSFER_RATES.get(cfg.image_size[0], TRANSFER_RATES[min(TRANSFER_RATES)])[0]
    validation_s = len(fitted.folder.splits["validation"]) / features
    if clock is None or not clock.budget_s:
        return MOST_SECONDS
    return clock.left() - (clock.reserve(validation_s) - clock.aside_s)


def _run(fitted, held_out: list, seconds: float, say: Callable[[str], None]):
    from visionflow.config import TrainConfig
    from visionflow.errors import VisionflowError
    from visionflow.recipe import MANAGED, SCRATCH_MODEL
    from visionflow.rundir import write_json
    from visionflow.training.trainer import fit

    cfg, root = fitted.cfg, fitted.paths.root
    pretrained = pretrained_score(cfg, fitted.state)
    kept = {r.path for r in held_out}
    # Trained on the images the pretrained model trained on; its validation images are the slice.
    part = replace(fitted.folder, splits={**fitted.folder.splits, "validation": held_out,
                                          "train": [r for r in fitted.folder.splits["train"] if r.path not in kept]})
    part.splits.pop("test", None)
    settings = {**cfg.to_dict(), **{name: None for name in MANAGED}, "model": SCRATCH_MODEL, "weights": "none",
                "time_budget": seconds / 60, "project": str(root), "name": "scratch", "monitor": None,
                "versus_scratch": "never", "fine_tune": "auto"}
    say(f"versus scratch: the pretrained {cfg.model} answers {pretrained.accuracy:.1%} of the {len(held_out)} held-out "
        f"training images (loss {pretrained.loss:.4f}); {SCRATCH_MODEL} trains from scratch on the same images for "
        f"up to {seconds:.0f}s to compare")
    t0 = time.perf_counter()
    scratch_root = root / "scratch"
    try:
        other = fit(TrainConfig.from_dict(settings), folder=part, say=lambda line: say(f"  {line}"))
    except (VisionflowError, KeyboardInterrupt) as e:
        shutil.rmtree(scratch_root, ignore_errors=True)
        if isinstance(e, KeyboardInterrupt):
            raise
        say(f"versus scratch: {SCRATCH_MODEL} failed ({e}); the pretrained model stays")
        return fitted
    scratch = _score(other, part, held_out)
    won = scratch_wins(pretrained, scratch)
    record = {"slice_images": len(held_out), "pretrained": pretrained.to_dict(), "scratch": scratch.to_dict(),
              "winner": SCRATCH_MODEL if won else cfg.model, "seconds": round(time.perf_counter() - t0, 2),
              "scratch_epochs": other.state["epoch"]}
    verdict = (f"{SCRATCH_MODEL} {scratch.accuracy:.1%} (loss {scratch.loss:.4f}) against {cfg.model} "
               f"{pretrained.accuracy:.1%} (loss {pretrained.loss:.4f}) on the {len(held_out)} held-out images")
    runner_up = root / RUNNER_UP
    shutil.rmtree(runner_up, ignore_errors=True)
    runner_up.mkdir()
    if not won:
        _move(scratch_root, runner_up)
        shutil.rmtree(scratch_root, ignore_errors=True)
        fitted.state["versus_scratch"] = record
        write_json(fitted.paths.state, fitted.state)
        say(f"versus scratch: {cfg.model} stays: {verdict}; {SCRATCH_MODEL} is in {runner_up}")
        return fitted
    return _promote(fitted, other, record, verdict, say)


def _score(other, folder, held_out: list) -> Score:
    """The from-scratch model's kept model on the slice, scored as the pretrained one was."""
    from visionflow.predictor import load_keras
    from visionflow.recipe import SCRATCH_MODEL
    from visionflow.training.decision import slice_dataset, slice_scores

    model = load_keras(other.paths.model, unsafe=False)
    batches = slice_dataset(held_out, other.cfg, folder, other.cfg.batch_size or 32)
    scores = slice_scores(model, batches, other.cfg, folder.classes, "accuracy")
    return Score(SCRATCH_MODEL, scores["slice_accuracy"], scores["slice_loss"])


def _promote(fitted, other, record: dict, verdict: str, say: Callable[[str], None]):
    """Moves the from-scratch model into the run folder and the pretrained one to RUN/runner_up."""
    from visionflow.rundir import write_csv, write_json, write_yaml
    from visionflow.training.trainer import Fitted

    root = fitted.paths.root
    scratch_root, runner_up = other.paths.root, root / RUNNER_UP
    _move(root, runner_up)
    shutil.rmtree(fitted.paths.checkpoints, ignore_errors=True)
    # Its epochs were scored on the slice: the history says so, so no figure reads as validation.
    history = [{(f"slice_{k[4:]}" if k.startswith("val_") else k): v for k, v in row.items()}
               for row in other.state["history"]]
    state = {**other.state, "history": history, "versus_scratch": record,
             "pretrained": {k: fitted.state[k] for k in ("head", "fine_tune") if fitted.state.get(k)}}
    if state.get("best"):
        state["best"] = {**state["best"], "val_loss": math.nan}
    cfg = other.cfg.replace(project=fitted.cfg.project, name=fitted.cfg.name, versus_scratch=fitted.cfg.versus_scratch)
    _move(scratch_root, root)
    shutil.move(str(other.paths.checkpoints), str(fitted.paths.checkpoints))
    shutil.rmtree(scratch_root, ignore_errors=True)
    write_yaml(fitted.paths.config, cfg.to_dict())
    write_csv(fitted.paths.history, history)
    write_json(fitted.paths.state, state)
    gain = record["scratch"]["slice_accuracy"] - record["pretrained"]["slice_accuracy"]
    say(f"versus scratch: {record['winner']} from scratch is kept: {verdict} "
        + (f"({gain:+.1%} accuracy)" if gain else "(same accuracy, lower loss)")
        + f"; the pretrained model is in {runner_up}")
    return Fitted(fitted.paths, fitted.folder, state, cfg, fitted.clock)


def _move(source, target) -> None:
    """The files that make a candidate a loadable run (`MOVED`), from folder `source` to `target`."""
    target.mkdir(exist_ok=True)
    for name in MOVED:
        if (source / name).exists():
            shutil.move(str(source / name), str(target / name))
