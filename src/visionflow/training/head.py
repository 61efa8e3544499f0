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


def _epoch_schedule(steps: int, rate: Callable[[int], float]):
    """A Keras callback setting the learning rate `rate(epoch)` at each epoch's first batch, the
    epochs being `steps` batches each of one long Keras epoch (see `_epochs_of`)."""
    import keras

    class EpochSchedule(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch % steps == 0:
                self.model.optimizer.learning_rate.assign(rate(batch // steps))

    return EpochSchedule()


def _epochs_of(x, y, batch_size: int, epochs: int):
    """A tf.data dataset of `epochs` shuffled passes over in-memory features, batched as Keras'
    fit batches them, for one Keras epoch of all of them: the head's hundreds of tiny epochs in
    one call (Keras' per-epoch work cost ~50 ms an epoch: 17 s for 300 epochs on 22 images)."""
    import tensorflow as tf

    x = tuple(x) if isinstance(x, list) else x
    return (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), reshuffle_each_iteration=True)
            .batch(batch_size).repeat(epochs).prefetch(2))


def train_head(model, cfg: TrainConfig, folder, batch_size: int, class_weight: dict | None, val_ds,
               say: Callable[[str], None], held_out: list | None = None, task=None) -> dict:
    """Trains the head of `model` (a backbone plus the task's `dense_head`) for `cfg.head_epochs` epochs on
    the backbone's features; returns what it measured (stored in state.json and metrics.json).

    The learning rate is `cfg.learning_rate`, decaying along a cosine over the head epochs; the
    loss, label smoothing and class weights are the run's own. With `held_out` (training records
    kept out for deciding about fine-tuning, `training.decision`) the head trains on the other
    training images and the result holds its `slice_loss` and `slice_<metric>` on them; the
    features of both stay in `result["_refit"]`, a function that trains the head again on all of
    them (what a run that does not fine-tune keeps).
    """
    import keras

    from visionflow.data.pipeline import make_dataset
    from visionflow.data.resize import Resize
    from visionflow.models.backbones import BACKBONE_LAYER
    from visionflow.models.heads import head_layers
    from visionflow.tabular.fusion import head_of, matrix
    from visionflow.training.decision import slice_scores
    from visionflow.training.setup import (
        build_optimizer,
        schedule_factor,
        training_targets,
    )

    backbone = model.get_layer(BACKBONE_LAYER)
    t0 = time.perf_counter()

    def features(records):
        ds = make_dataset(records, training_targets(task, folder, records), cfg.image_size, batch_size,
                          training=False, cache="none", resize=Resize(cfg.resize), columns=matrix(folder, records))
        return _features(backbone, ds)

    held_out = held_out or []
    kept = {r.path for r in held_out}
    x_train, y_train = features([r for r in folder.splits["train"] if r.path not in kept])
    x_slice, y_slice = features(held_out) if held_out else (None, None)
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
    start = [w.copy() for w in head.get_weights()]
    epochs = cfg.head_epochs

    def train(x, y):
        head.set_weights(start)
        task.compile(head, cfg, folder.classes, cfg.learning_rate)
        build_optimizer(head)
        steps = -(-len(y) // batch_size)  # batches per epoch
        schedule = _epoch_schedule(steps, lambda epoch: cfg.learning_rate * schedule_factor("cosine", epoch, epochs))
        head.fit(_epochs_of(x, y, batch_size, epochs), epochs=1, steps_per_epoch=steps * epochs,
                 class_weight=class_weight, callbacks=[schedule], verbose=0)
        # The figures kept: the trained head on the training features and, once, on the validation ones.
        scores = head.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        val = head.evaluate(x_val, y_val, batch_size=batch_size, verbose=0, return_dict=True)
        return {**{k: [v] for k, v in scores.items()}, **{f"val_{k}": [v] for k, v in val.items()}}

    t1 = time.perf_counter()
    history = train(x_train, y_train)
    t_head = time.perf_counter() - t1
    metric = task.curve_metric[0]
    first = x_train[0] if isinstance(x_train, list) else x_train
    result = {"epochs": epochs, "train_images": int(len(first)), "features": int(first.shape[-1]),
              "feature_seconds": round(t_features, 2), "head_seconds": round(t_head, 2),
              "seconds": round(t_features + t_head, 2),
              metric: round(float(history[metric][-1]), 4),
              f"val_{metric}": round(float(history[f"val_{metric}"][-1]), 4),
              "val_loss": round(float(history["val_loss"][-1]), 4)}
    if held_out:
        scores = slice_scores(head, [(x_slice, y_slice)], cfg, folder.classes, metric, task)
        result.update(slice_images=len(held_out), **{k: round(v, 4) for k, v in scores.items()})

        def refit() -> dict:
            joined = ([np.concatenate([a, b]) for a, b in zip(x_train, x_slice)] if isinstance(x_train, list)
                      else np.concatenate([x_train, x_slice]))
            t = time.perf_counter()
            again = train(joined, np.concatenate([y_train, y_slice]))
            return {"train_images": int(len(y_train) + len(y_slice)), "seconds": round(time.perf_counter() - t, 2),
                    metric: round(float(again[metric][-1]), 4),
                    f"val_{metric}": round(float(again[f"val_{metric}"][-1]), 4),
                    "val_loss": round(float(again["val_loss"][-1]), 4)}

        result["_refit"] = refit
    say(f"head: {epochs} epochs on the backbone's features of {len(first):,} training images"
        + (" and the columns" if isinstance(x_train, list) else "") + f" (features {t_features:.0f}s, head {t_head:.0f}s): {metric} {result[metric]:.4f}, "
        f"val_{metric} {result[f'val_{metric}']:.4f}"
        + (f"; held-out training slice ({len(held_out)} images): {metric} {result[f'slice_{metric}']:.4f}, "
           f"loss {result['slice_loss']:.4f}" if held_out else ""))
    return result
