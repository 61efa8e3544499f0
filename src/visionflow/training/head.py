"""The head phase of transfer learning: the classifier trained alone on cached backbone features.

A frozen backbone gives the same features for an image every epoch, so they are computed once
(one forward pass over the training and validation images, without augmentation) and the head,
a dropout and a dense layer, trains on them for many epochs in seconds. The head's layers are the
full model's own, so the fine-tuning that follows starts from them.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from visionflow.config import TrainConfig


def _features(backbone, dataset) -> tuple[np.ndarray | list[np.ndarray], np.ndarray]:
    """(features, targets); beside table columns, features are [image features, columns]."""
    feats, columns, labels = [], [], []
    for x, y in dataset:
        if isinstance(x, dict):
            columns.append(np.asarray(x["columns"]))
            x = x["image"]
        feats.append(np.asarray(backbone.predict_on_batch(x)))
        labels.append(np.asarray(y))
    out = np.concatenate(feats)
    return ([out, np.concatenate(columns)] if columns else out), np.concatenate(labels)


def train_head(model, cfg: TrainConfig, folder, batch_size: int, class_weight: dict | None, val_ds,
               say: Callable[[str], None]) -> dict:
    """Trains the head of `model` (a backbone plus the task's `dense_head`) for `cfg.head_epochs` epochs on
    the backbone's features; returns what it measured (stored in state.json and metrics.json).

    The learning rate is `cfg.learning_rate`, decaying along a cosine over the head epochs; the
    loss, label smoothing and class weights are the run's own.
    """
    import keras

    from visionflow import tasks
    from visionflow.data.pipeline import make_dataset
    from visionflow.data.resize import Resize
    from visionflow.models.backbones import BACKBONE_LAYER
    from visionflow.models.heads import head_layers
    from visionflow.tabular.fusion import head_of, matrix
    from visionflow.training.setup import compile_model, schedule_factor, training_targets

    backbone = model.get_layer(BACKBONE_LAYER)
    t0 = time.perf_counter()
    records = folder.splits["train"]
    train_ds = make_dataset(records, training_targets(cfg, folder, records), cfg.image_size, batch_size,
                            training=False, cache="none", resize=Resize(cfg.resize), columns=matrix(folder, records))
    x_train, y_train = _features(backbone, train_ds)
    x_val, y_val = _features(backbone, val_ds)
    t_features = time.perf_counter() - t0
    if isinstance(x_train, list):  # table columns beside the images: the column network trains here too
        head = head_of(model, x_train[0].shape[1:])
    else:
        inputs = keras.Input(shape=x_train.shape[1:], name="features")
        x = inputs
        for layer in head_layers(model):
            x = layer(x)
        head = keras.Model(inputs, x, name="head")
    compile_model(head, cfg, folder.classes, cfg.learning_rate)
    epochs = cfg.head_epochs
    schedule = keras.callbacks.LearningRateScheduler(
        lambda epoch: cfg.learning_rate * schedule_factor("cosine", epoch, epochs))
    t1 = time.perf_counter()
    fit = head.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
                   shuffle=True, class_weight=class_weight, callbacks=[schedule], verbose=0)
    t_head = time.perf_counter() - t1
    history = fit.history
    metric = tasks.get(cfg.task).curve_metric[0]
    first = x_train[0] if isinstance(x_train, list) else x_train
    result = {"epochs": epochs, "train_images": int(len(first)), "features": int(first.shape[-1]),
              "feature_seconds": round(t_features, 2), "head_seconds": round(t_head, 2),
              "seconds": round(t_features + t_head, 2),
              metric: round(float(history[metric][-1]), 4),
              f"val_{metric}": round(float(history[f"val_{metric}"][-1]), 4),
              "val_loss": round(float(history["val_loss"][-1]), 4)}
    say(f"head: {epochs} epochs on the backbone's features of {len(first):,} training images"
        + (" and the columns" if isinstance(x_train, list) else "") + f" (features {t_features:.0f}s, head {t_head:.0f}s): {metric} {result[metric]:.4f}, "
        f"val_{metric} {result[f'val_{metric}']:.4f}")
    return result
