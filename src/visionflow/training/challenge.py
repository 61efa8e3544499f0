"""Runs the from-scratch challenger of `training.versus` after a pretrained run, and makes the
better model on the held-out slice the run's model, the other RUN/runner_up."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import replace

from visionflow.training.versus import Score, pretrained_score, scratch_wins, why_not

MIN_SECONDS = 20.0  # the least time worth giving the from-scratch model (build, trace, a few epochs)
MOST_SECONDS = 120.0  # what it gets at most where the run has no time budget
RUNNER_UP = "runner_up"
MOVED = ("model.keras", "config.yaml", "labels.json", "history.csv")  # what a candidate is, as a run folder


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
    from visionflow.training.trainer import Interrupted, fit

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
    except (Interrupted, KeyboardInterrupt):
        shutil.rmtree(scratch_root, ignore_errors=True)
        raise Interrupted(f"Interrupted while {SCRATCH_MODEL} trained from scratch for comparison; the pretrained "
                          f"model is kept in {fitted.paths.model}; evaluate it with: visionflow train --resume "
                          f"{root}") from None
    except VisionflowError as e:
        shutil.rmtree(scratch_root, ignore_errors=True)
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
    batches = slice_dataset(held_out, other.cfg, folder, other.cfg.batch_size or 32, other.task)
    scores = slice_scores(model, batches, other.cfg, folder.classes, "accuracy", other.task)
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
    return Fitted(fitted.paths, fitted.folder, state, cfg, fitted.clock, task=fitted.task)


def _move(source, target) -> None:
    """The files that make a candidate a loadable run (`MOVED`), from folder `source` to `target`."""
    target.mkdir(exist_ok=True)
    for name in MOVED:
        if (source / name).exists():
            shutil.move(str(source / name), str(target / name))
