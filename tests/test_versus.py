"""Pretrained against from scratch on the held-out slice (training.versus): the rule, the figures
it reads from a run and when it runs at all. Whole runs where small_cnn challenges the pretrained
backbone: tests/test_pretrained.py."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from visionflow.training import versus
from visionflow.training.versus import Score


def test_more_right_answers_win_and_a_tie_stays_pretrained_unless_the_loss_halves():
    pretrained = Score("efficientnet_lite0", 0.875, 0.30)
    assert versus.scratch_wins(pretrained, Score("small_cnn", 1.0, 0.9))  # one more right answer, whatever the loss
    assert not versus.scratch_wins(pretrained, Score("small_cnn", 0.75, 0.01))
    assert not versus.scratch_wins(pretrained, Score("small_cnn", 0.875, 0.20))  # level, and not half the loss
    assert versus.scratch_wins(pretrained, Score("small_cnn", 0.875, 0.15))
    assert not versus.scratch_wins(pretrained, Score("small_cnn", 1.0, math.nan))  # a diverged run never wins
    assert not versus.scratch_wins(pretrained, Score("small_cnn", 1.0, math.inf))


def _state(best: dict | None, history: list | None = None, slice_images: int = 8) -> dict:
    return {"fine_tune": {"slice_images": slice_images, "head_slice_loss": 0.25, "head_slice_accuracy": 0.875},
            "best": best, "history": history or []}


def test_the_pretrained_score_is_the_kept_epochs_on_the_slice():
    cfg = SimpleNamespace(model="efficientnet_lite0")
    rows = [{"epoch": 1, "slice_accuracy": 0.75, "slice_loss": 0.4}, {"epoch": 2, "slice_accuracy": 1.0, "slice_loss": 0.1}]
    fine_tuned = versus.pretrained_score(cfg, _state({"metric": "slice_loss", "value": 0.1, "epoch": 2}, rows))
    assert (fine_tuned.accuracy, fine_tuned.loss) == (1.0, 0.1)
    # the head alone kept (epoch 0), or fine-tuning skipped: the head's score before it trained on the slice too
    for best in ({"metric": "slice_loss", "value": 0.25, "epoch": 0}, {"metric": "head", "value": None, "epoch": 0}):
        head = versus.pretrained_score(cfg, _state(best, rows))
        assert (head.accuracy, head.loss) == (0.875, 0.25)
    assert versus.pretrained_score(cfg, _state(None, slice_images=0)) is None
    assert versus.pretrained_score(cfg, {"best": None, "history": []}) is None  # --fine-tune always/never: no slice


def _fitted(mode="auto", images=52, model="efficientnet_lite0", task="classification", loss=0.25, accuracy=0.875,
            side=100):
    cfg = SimpleNamespace(model=model, task=task, versus_scratch=mode, columns=(), dp=False, teacher=None,
                          fine_tune="auto")
    state = {"fine_tune": {"slice_images": 8, "head_slice_loss": loss, "head_slice_accuracy": accuracy},
             "best": {"metric": "head", "epoch": 0}, "history": []}
    record = SimpleNamespace(width=side * 3 // 2, height=side)
    folder = SimpleNamespace(splits={"train": [record] * images}, classes=["a", "b"], report={})
    from visionflow import tasks

    return SimpleNamespace(cfg=cfg, state=state, folder=folder, task=tasks.get(task))


def test_from_scratch_challenges_only_small_runs_the_recipe_chose_and_not_already_sure():
    assert versus.why_not(_fitted(), chose_model=True) is None
    assert versus.why_not(_fitted(), chose_model=False) == ""  # --model or --weights given: the user chose
    # where from scratch is not cheap (245 photos of 300 px: ~2 minutes at 128 px), it does not try
    assert versus.why_not(_fitted(images=245, side=300), chose_model=True) == ""
    # small images train from scratch fast: more of them are worth the try (digits: 1,437 of 32 px)
    assert versus.why_not(_fitted(images=1437, side=32), chose_model=True) is None
    assert versus.why_not(_fitted(images=10000, side=32), chose_model=True) == ""
    assert versus.why_not(_fitted(loss=0.1, accuracy=1.0), chose_model=True) == ""  # all right, fairly sure
    assert versus.why_not(_fitted(mode="never"), chose_model=True) == ""
    assert versus.why_not(_fitted(model="small_cnn"), chose_model=True) == ""  # from scratch already
    assert versus.why_not(_fitted(task="regression"), chose_model=True) == ""
    assert versus.why_not(_fitted(task="video"), chose_model=True) == ""  # clip models train from scratch
    assert versus.why_not(_fitted(mode="always", images=5000, loss=0.1, accuracy=1.0), chose_model=False) is None
    no_slice = _fitted(mode="always")
    no_slice.state["fine_tune"]["slice_images"] = 0
    assert "no training images were held out" in versus.why_not(no_slice, chose_model=True)


def test_time_is_kept_from_the_epochs_only_where_a_challenge_may_come():
    from visionflow.recipe import DataFacts, scratch_seconds

    small = _fitted(images=1437, side=32)
    expected = scratch_seconds(DataFacts.of(small.folder))
    assert 30 < expected < 120  # 30 epochs of 1,437 images at 32 px, and the start-up
    assert versus.aside_seconds(small.cfg, small.folder, True, small.task) == expected
    assert versus.aside_seconds(small.cfg, small.folder, False, small.task) == 0.0
    big = _fitted(images=245, side=300)
    assert versus.aside_seconds(big.cfg, big.folder, True, big.task) == 0.0
    fixed = _fitted()
    fixed.cfg.fine_tune = "always"  # no slice is held out, so nothing can decide
    assert versus.aside_seconds(fixed.cfg, fixed.folder, True, fixed.task) == 0.0
    assert versus.why_not(fixed, chose_model=True) == ""


def test_the_cli_takes_the_choice(capsys):
    from visionflow.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--versus-scratch {auto,always,never}" in out and "small_cnn trained from scratch" in out
