"""Tiny datasets with the defaults: the kept model must be right and confident (precise BN statistics)."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow
from visionflow.training.precise_bn import recompute_statistics

from synthetic import easy_folder


@pytest.mark.parametrize("classes,per_class", [(2, 5), (2, 10), (2, 25), (5, 5), (5, 10), (5, 25)])
def test_easy_tiny_sets_train_with_the_defaults(tmp_path, classes, per_class):
    data = easy_folder(tmp_path / "data", classes=classes, train=per_class, validation=8, seed=classes * 100 + per_class)
    lines: list[str] = []
    # The defaults, with fewer epochs to keep the suite quick (bench/small_data.py runs them in full).
    run = visionflow.train(data=str(data), project=str(tmp_path / "runs"), epochs=12, say=lines.append)
    # per class: the JPEGs plus a palette, an RGBA and a CMYK image (valid, odd colour modes)
    assert any(l.startswith(f"recipe auto: {(per_class + 3) * classes} training images") for l in lines)
    assert f"  skipped {classes} file(s):" in lines  # the truncated JPEG in each class folder
    val = [r["val_accuracy"] for r in run.history]
    assert val[-1] >= 0.95 and run.metrics["validation"]["accuracy"] >= 0.95, val
    chance = 1 / classes
    risen = next(i for i, v in enumerate(val) if v > chance + 0.2)
    assert min(val[risen:]) > chance + 0.2, val  # never back to chance once learnt

    model = visionflow.load(run.run_dir, backend="keras")
    images = sorted((data / "validation").rglob("*.jpg"))
    predictions = model.predict(images)
    right = [p.probabilities[path.parent.name] for p, path in zip(predictions, images)]
    assert np.mean(right) >= 0.9, np.mean(right)


def test_precise_statistics_match_the_population_and_leave_frozen_layers(tmp_path):
    import keras

    inputs = keras.Input((4, 4, 2))
    frozen = keras.layers.BatchNormalization(name="frozen")
    x = frozen(inputs)
    x = keras.layers.BatchNormalization(momentum=0.99, name="live")(x)
    model = keras.Model(inputs, x)
    frozen.trainable = False
    rng = np.random.default_rng(0)
    data = (rng.normal(3.0, 2.0, size=(256, 4, 4, 2))).astype("float32")
    seen = recompute_statistics(model, [data[i:i + 32] for i in range(0, 256, 32)])
    live = model.get_layer("live")
    assert seen == 256 and live.momentum == 0.99  # momentum restored
    np.testing.assert_allclose(live.moving_mean.numpy(), data.reshape(-1, 2).mean(0), rtol=0.02)
    np.testing.assert_allclose(live.moving_variance.numpy(), data.reshape(-1, 2).var(0), rtol=0.1)
    np.testing.assert_array_equal(frozen.moving_mean.numpy(), [0, 0])  # frozen: untouched
    assert recompute_statistics(model, []) == 0
