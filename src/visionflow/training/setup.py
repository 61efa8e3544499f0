"""Optimizers, losses, metrics and learning-rate schedules, built from the config."""

from __future__ import annotations

import math

import keras

from visionflow.config import TrainConfig


def make_optimizer(cfg: TrainConfig, learning_rate: float) -> keras.optimizers.Optimizer:
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=cfg.weight_decay)
    return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)


def compile_model(model: keras.Model, cfg: TrainConfig, num_classes: int, learning_rate: float) -> None:
    """Sigmoid + binary cross-entropy for 2 classes, softmax + categorical cross-entropy otherwise."""
    if num_classes == 2:
        loss = keras.losses.BinaryCrossentropy(label_smoothing=cfg.label_smoothing)
        metric = keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)
        metric = keras.metrics.CategoricalAccuracy(name="accuracy")
    model.compile(optimizer=make_optimizer(cfg, learning_rate), loss=loss, metrics=[metric])


def schedule_factor(name: str, epoch: int, epochs: int, start: int = 0) -> float:
    """Multiplier of the base learning rate at `epoch` (0-based) for a phase that began at `start`.

    cosine decays from 1 to 0.01 over the epochs of the phase; constant and plateau return 1
    (plateau reductions are tracked separately, since they depend on validation results).
    """
    if name != "cosine":
        return 1.0
    span = max(1, epochs - start)
    t = min(1.0, (epoch - start) / span)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))


def class_weights(counts: list[int]) -> dict[int, float]:
    """Inverse-frequency weights, scaled so that a balanced dataset gets 1.0 for every class."""
    total, n = sum(counts), len(counts)
    return {i: total / (n * c) for i, c in enumerate(counts) if c > 0}
