"""The output layers tasks put on a model's features, and how they are found again in a built model."""

from __future__ import annotations

import keras

# a regression head ends in "values", which turns standardised outputs back into the targets' units
HEAD_LAYERS = ("head_dropout", "probability", "probabilities", "values")
OUTPUT_LAYERS = HEAD_LAYERS[1:3]  # the Dense output layer, by its name


def head_layers(model: keras.Model) -> list:
    """The output head's layers of a built model, in order (what `dense_head` added)."""
    return [layer for layer in model.layers if layer.name in HEAD_LAYERS]


def dense_head(x, units: int, activation: str, dropout: float, regularizer=None, name: str | None = None):
    """Dropout then Dense(units, activation): the output layers a task puts on a model's features.

    The layers are named from HEAD_LAYERS ("probability" for a single unit, else "probabilities"),
    which is how the head-only phase and Grad-CAM find them.
    """
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=HEAD_LAYERS[0])(x)
    name = name or (HEAD_LAYERS[1] if units == 1 else HEAD_LAYERS[2])
    return keras.layers.Dense(units, activation=activation, kernel_regularizer=regularizer, name=name)(x)
