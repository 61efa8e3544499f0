"""Contract over every registered model: builds, trains a step without NaN, saves and reloads identically."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from visionflow import tasks
from visionflow.config import TrainConfig
from visionflow.models import MODELS, build_model, names_for
from visionflow.models.backbones import set_backbone_trainable
from visionflow.rundir import save_model

SIZE = (32, 32)


# Backbones share the classifier head with the CNNs, so one class count each keeps the suite fast.
CASES = [(name, n) for name in names_for("classification") for n in ((2, 3) if not MODELS.get(name).backbone else (3,))]


@pytest.mark.parametrize("name,num_classes", CASES)
def test_model_contract(name, num_classes, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model(name, SIZE, num_classes)
    out_units = 1 if num_classes == 2 else num_classes
    assert model.output_shape == (None, out_units)
    tasks.get("classification").compile(model, TrainConfig(), num_classes, 1e-3)
    # One step run eagerly: the same layers, loss and gradients without tracing a training graph
    # (16 s for a backbone here, 1-2 s eagerly); the traced path is what every training test runs.
    model.run_eagerly = True
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4, *SIZE, 3)).astype("float32")  # raw pixels: the model rescales itself
    y = np.array([[0], [1], [0], [1]], "float32") if num_classes == 2 else np.eye(num_classes, dtype="float32")[[0, 1, 2, 0]]
    before = [np.array(v) for v in model.trainable_variables]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert any(not np.array_equal(b, np.array(v)) for b, v in zip(before, model.trainable_variables))  # it learnt
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (4, out_units) and np.all((probs >= 0) & (probs <= 1))
    if num_classes > 2:
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True, compile=False)
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), probs)
    # uint8 input works the same as float pixels
    np.testing.assert_allclose(np.asarray(loaded(x.astype("uint8").astype("float32"))), probs, rtol=1e-6)


def test_seed_cnn_is_the_tutorial_network():
    model = build_model("seed_cnn", (150, 150), 2)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    pools = [l for l in model.layers if isinstance(l, keras.layers.MaxPooling2D)]
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    assert [c.filters for c in convs] == [32, 64, 128] and all(c.kernel_size == (3, 3) for c in convs)
    assert all(c.activation.__name__ == "relu" for c in convs)
    assert len(pools) == 3 and all(p.pool_size == (2, 2) for p in pools)
    assert [d.units for d in dense] == [512, 1] and dense[-1].activation.__name__ == "sigmoid"
    assert not any(isinstance(l, (keras.layers.Dropout, keras.layers.BatchNormalization)) for l in model.layers)
    assert model.count_params() == 19_034_177
    assert build_model("seed_cnn", (150, 150), 5).layers[-1].activation.__name__ == "softmax"


def test_bn_momentum_is_09_everywhere():
    for name in ("small_cnn", "mobilenet_v3_small"):
        model = build_model(name, SIZE, 2)
        bns = [l for l in _all_layers(model) if isinstance(l, keras.layers.BatchNormalization)]
        assert bns and all(abs(b.momentum - 0.9) < 1e-9 for b in bns)


def test_regularizers_and_dropout_are_applied():
    model = build_model("small_cnn", SIZE, 2, dropout=0.4, l1=0.0, l2=1e-3)
    assert model.get_layer("head_dropout").rate == 0.4
    assert len(model.losses) > 0


def test_backbone_freezing_and_weights_errors(tmp_path):
    model = build_model("mobilenet_v3_small", SIZE, 2)
    assert set_backbone_trainable(model, False)
    assert len(model.trainable_weights) == 2  # only the head's kernel and bias
    assert not set_backbone_trainable(build_model("small_cnn", SIZE, 2), False)
    from visionflow.errors import ModelError
    with pytest.raises(ModelError, match="does not exist"):
        build_model("mobilenet_v3_small", SIZE, 2, weights=str(tmp_path / "missing.weights.h5"))


def test_imagenet_weights_offline_fail_with_one_sentence(monkeypatch):
    import keras.src.utils.file_utils as file_utils

    from visionflow.errors import ModelError

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid: None -- [Errno -3] no network")

    monkeypatch.setattr(file_utils, "get_file", no_network)
    monkeypatch.setattr(keras.utils, "get_file", no_network)
    with pytest.raises(ModelError) as info:
        build_model("mobilenet_v3_small", (96, 96), 2, weights="imagenet")
    message = str(info.value)
    assert "Could not download the ImageNet weights for mobilenet_v3_small" in message and "\n" not in message


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


@pytest.mark.parametrize("name", names_for("classification"))
def test_minimum_image_size_builds_and_below_is_a_clear_error(name):
    from visionflow.errors import ConfigError

    side = MODELS.get(name).min_size
    if not MODELS.get(name).backbone:  # backbones' minimum is keras.applications' own (32)
        model = build_model(name, (side, side), 2)
        assert model(np.zeros((1, side, side, 3), "float32")).shape == (1, 1)
    with pytest.raises(ConfigError, match=f"{name} needs an image size of at least {side}x{side}"):
        build_model(name, (side - 1, side + 5), 2)
