"""The tutorial network, layer for layer."""

from __future__ import annotations

import keras

from visionflow.models.registry import image_input, register


@register("seed_cnn", "The classic tutorial CNN: 3 conv/pool blocks (32/64/128), Dense 512.", default_dropout=0.0, min_size=22)
def build(input_shape, regularizer=None) -> keras.Model:
    """Conv 32/64/128 (3x3, ReLU) each followed by 2x2 max pooling, Flatten, Dense 512 ReLU: 512 features.

    With the task's classifier head and the default dropout of 0 this is exactly the tutorial's
    network; a dropout above 0 adds a Dropout layer before the classifier.
    """
    inputs = image_input(input_shape)
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for i, filters in enumerate((32, 64, 128), start=1):
        x = keras.layers.Conv2D(filters, 3, activation="relu", kernel_regularizer=regularizer, name=f"conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(512, activation="relu", kernel_regularizer=regularizer, name="fc")(x)
    return keras.Model(inputs, x, name="seed_cnn")
