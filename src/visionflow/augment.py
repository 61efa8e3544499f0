"""Augmentation presets, registered by name.

A preset builds a `keras.Sequential` of Keras random preprocessing layers. It runs in the tf.data
pipeline on float pixels in [0, 255] (so the saved model holds no augmentation), and is active
only for training batches.
"""

from __future__ import annotations

from typing import Callable

import keras

from visionflow.registry import Registry

PRESETS: Registry[Callable[[int], keras.Sequential | None]] = Registry("augmentation preset")


@PRESETS.register("none")
def none(seed: int) -> None:
    """No augmentation."""
    return None


@PRESETS.register("light")
def light(seed: int) -> keras.Sequential:
    """Horizontal flips, small rotations, zooms and shifts: safe for most photo sets."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.05, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomZoom(0.1, fill_mode="reflect", seed=seed + 2),
        keras.layers.RandomTranslation(0.05, 0.05, fill_mode="reflect", seed=seed + 3),
    ], name="augment_light")


@PRESETS.register("strong")
def strong(seed: int) -> keras.Sequential:
    """Stronger geometry plus contrast: for small datasets that overfit quickly."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.1, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomZoom((-0.2, 0.2), fill_mode="reflect", seed=seed + 2),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 3),
        keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 4),
    ], name="augment_strong")


@PRESETS.register("gentle")
def gentle(seed: int) -> keras.Sequential:
    """Small zooms, shifts and contrast, without flips or turns: for answers that a mirror or a turn
    changes (a steering angle, the angle of a line); the regression default."""
    return keras.Sequential([
        keras.layers.RandomZoom(0.1, fill_mode="reflect", seed=seed),
        keras.layers.RandomTranslation(0.05, 0.05, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomContrast(0.1, value_range=(0, 255), seed=seed + 2),
    ], name="augment_gentle")


def build(name: str, seed: int) -> keras.Sequential | None:
    """The preset `name` built with `seed`; raises ConfigError naming the choices if unknown."""
    return PRESETS.get(name)(seed)
