"""Optimizers, losses, metrics and learning-rate schedules, built from the config."""

from __future__ import annotations

import math

import keras
import numpy as np

from visionflow.config import TrainConfig


def make_optimizer(cfg: TrainConfig, learning_rate: float) -> keras.optimizers.Optimizer:
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=cfg.weight_decay)
    return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)


MMAP_THRESHOLD = 32 * 1024 ** 2  # glibc's own ceiling for its adaptive threshold on 64-bit systems


def steady_malloc() -> None:
    """Lets freed tensor buffers be reused from the heap again (glibc only; elsewhere nothing).

    TensorFlow's generator datasets set glibc's M_TRIM_THRESHOLD to 128 KB when they start, and
    setting it stops glibc from raising its mmap threshold as it otherwise does: every buffer over
    128 KB is then mapped and unmapped at each step, with its pages faulted in again. Measured on a
    small detector: 17 s of system time in 8 epochs, epochs of 2.8-5.5 s; with the thresholds
    where glibc's adaptation ends (mmap at 32 MB, trim at twice that), 5 s and 2.2-2.7 s, the
    same losses. Called at each epoch's first batch, after the datasets have started."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 2 * MMAP_THRESHOLD)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def build_optimizer(model) -> None:
    """Creates the optimizer's variables before `fit` (Keras defers them to the first training
    step without a distribution strategy): variables created inside that traced step make
    TensorFlow trace it a second time, 8 s of a small U-Net's first epoch on 2 cores."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)


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


def training_targets(task, folder, records) -> np.ndarray:
    """The float32 targets of `records` (of the ImageFolder `folder`) for the model's output, as the
    run's `task` encodes them."""
    return task.encode(task.targets(records, folder.classes), folder.classes)
