"""Recipes: what the no-flags defaults choose from the data, and that explicit settings win."""

from __future__ import annotations

import pytest

from visionflow.config import TrainConfig
from visionflow.errors import ConfigError
from visionflow.recipe import MANAGED, DataFacts, resolve


@pytest.mark.parametrize("images,side,expected", [
    (3_450, 128, 64),    # flowers5: only 64 px leaves ~40 epochs in the budget
    (2_000, 375, 96),    # a cats-vs-dogs sized set
    (245, 333, 128),     # hymenoptera: a few hundred photos afford 128 px
    (10, 96, 96),        # never above the images' own size
    (1_400, 8, 32),      # digit scans: their own size, at least 32
    (100_000, 500, 64),
])
def test_auto_resolution_from_the_data(images, side, expected):
    cfg, line = resolve(TrainConfig(data="d"), DataFacts(images, 2, side))
    assert cfg.image_size == (expected, expected)
    assert line.startswith(f"recipe auto: {images:,} training images, 2 classes, median short side {side} px -> "
                           f"small_cnn, from scratch, {expected}x{expected}, at most ")


def test_auto_fills_every_unset_setting_and_keeps_the_last_epoch():
    cfg, _ = resolve(TrainConfig(data="d"), DataFacts(500, 3, 200))
    assert all(getattr(cfg, name) is not None for name in MANAGED)
    assert (cfg.lr_schedule, cfg.time_budget, cfg.patience, cfg.keep, cfg.optimizer) == ("cosine", 15.0, 0, "last", "adamw")
    assert cfg.epochs == 41  # one per 12 images: small photo sets overfit long schedules
    assert resolve(TrainConfig(data="d"), DataFacts(16, 2, 90))[0].epochs == 30  # at least 30
    assert resolve(TrainConfig(data="d"), DataFacts(50_000, 2, 90))[0].epochs == 100  # at most 100
    assert cfg.label_smoothing == 0.0  # tiny sets: no smoothing, so easy answers stay confident
    big, _ = resolve(TrainConfig(data="d"), DataFacts(5_000, 3, 200))
    assert big.label_smoothing == 0.1


def test_explicit_settings_win_and_are_named():
    given = TrainConfig(data="d", image_size=150, epochs=7, augment="none", keep="best")
    cfg, line = resolve(given, DataFacts(3_000, 2, 300))
    assert (cfg.image_size, cfg.epochs, cfg.augment, cfg.keep) == ((150, 150), 7, "none", "best")
    assert cfg.lr_schedule == "cosine" and line.splitlines()[0].endswith("; given: image_size, epochs, augment, keep")
    assert "150" not in line.split("->")[1] and "cosine schedule" in line  # only what the recipe chose
    everything = TrainConfig(data="d", **{k: v for k, v in resolve(given, DataFacts(1, 2, 9))[0].to_dict().items()
                                          if k in MANAGED})
    assert resolve(everything, DataFacts(3_000, 2, 300)) == (everything, None)  # nothing left to choose


def test_tutorial_recipe_is_the_classic_settings():
    cfg, line = resolve(TrainConfig(data="d", recipe="tutorial"), DataFacts(2_000, 2, 375))
    assert (cfg.image_size, cfg.epochs, cfg.optimizer, cfg.learning_rate, cfg.lr_schedule, cfg.augment,
            cfg.patience, cfg.keep, cfg.time_budget) == ((150, 150), 15, "adam", 1e-3, "constant", "light", 5, "best", 0.0)
    assert "recipe tutorial" in line
    with pytest.raises(ConfigError, match="Did you mean 'tutorial'"):
        TrainConfig(data="d", recipe="tutorail")
