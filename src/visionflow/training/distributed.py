"""Multi-worker training on tf.distribute.MultiWorkerMirroredStrategy, configured by TF_CONFIG.

Keras 3's `model.fit` does not run under this strategy (keras-team/keras#20585: "Attempt to
convert a value (PerReplica ...)"), so distributed runs use their own epoch loop: a training step
run on every replica by `strategy.run` (gradients all-reduced by the optimizer), validation on each
worker's identical copy of the weights, and the run's usual callbacks (RunKeeper: checkpoints,
best model, early stopping, learning-rate schedule). Every worker reads the data and takes its
share of each global batch (per-worker batch x workers); only the chief writes the run folder.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Callable

from visionflow.errors import ConfigError


@dataclass
class Cluster:
    """This process's place in the cluster."""

    strategy: object
    workers: int
    index: int

    @property
    def chief(self) -> bool:
        return self.index == 0


def setup(timeout_s: float = 300.0) -> Cluster:
    """Creates the strategy from TF_CONFIG. Must run before any other TensorFlow operation.

    Collective operations time out after `timeout_s`, so a worker that dies makes the others
    fail instead of waiting forever.

    Raises:
        ConfigError: TF_CONFIG is missing or malformed, or names a task type other than worker.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError("--distributed needs TF_CONFIG describing the cluster (see docs/scaling.md), or start "
                          "the workers with `visionflow launch --workers N -- train ...`.")
    try:
        conf = json.loads(raw)
        workers = conf["cluster"]["worker"]
        task = conf["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError('TF_CONFIG must look like {"cluster": {"worker": ["host:port", ...]}, '
                          '"task": {"type": "worker", "index": 0}}.') from None
    if task.get("type") not in ("worker", "chief"):
        raise ConfigError(f"TF_CONFIG task type must be worker. Received: {task.get('type')!r}")
    import tensorflow as tf

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_s)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    return Cluster(strategy, len(workers), index)


def worker_errors() -> tuple[type, ...]:
    """What a collective operation raises when a peer has died or timed out."""
    import tensorflow as tf

    return (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.InternalError)


def distribute_dataset(cluster: Cluster, ds):
    """Each worker takes its part of every (global) batch."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return cluster.strategy.experimental_distribute_dataset(ds.with_options(options))


def _accuracy_counts(y, pred):
    import tensorflow as tf

    if pred.shape[-1] == 1:
        right = tf.equal(tf.cast(pred > 0.5, y.dtype), y)[:, 0]
    else:
        right = tf.equal(tf.argmax(pred, axis=-1), tf.argmax(y, axis=-1))
    return tf.reduce_sum(tf.cast(right, tf.float32)), tf.cast(tf.shape(y)[0], tf.float32)


def _images(y):
    """(0, images in the batch): targets that are not one row per image (boxes, masks) count no accuracy."""
    import tensorflow as tf

    return tf.constant(0.0), tf.cast(tf.shape(y)[0], tf.float32)


def fit(model, cluster: Cluster, train_ds, val_ds, initial_epoch: int, epochs: int, callbacks: list,
        say: Callable[[str], None]) -> None:
    """Runs epochs `initial_epoch`..`epochs` with the callbacks' epoch hooks, as model.fit would."""
    import tensorflow as tf

    from visionflow.training.setup import build_optimizer

    strategy = cluster.strategy
    replicas = strategy.num_replicas_in_sync
    labels = len(train_ds.element_spec[1].shape) == 2  # one target row per image: accuracy is counted
    dist_train = distribute_dataset(cluster, train_ds)
    with strategy.scope():  # the optimizer's variables before the first traced step, as model.fit's are
        build_optimizer(model)

    @tf.function
    def train_step(x, y):
        def replica(x, y):
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                loss = model.compute_loss(x=x, y=y, y_pred=pred, training=True)
                scaled = loss / replicas  # gradients are summed over replicas
            grads = tape.gradient(scaled, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
            right, n = _accuracy_counts(y, pred) if labels else _images(y)
            return loss, right, n

        loss, right, n = strategy.run(replica, args=(x, y))
        mean = tf.distribute.ReduceOp.MEAN
        total = tf.distribute.ReduceOp.SUM
        return strategy.reduce(mean, loss, axis=None), strategy.reduce(total, right, axis=None), \
            strategy.reduce(total, n, axis=None)

    @tf.function
    def val_step(x, y):
        pred = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=pred, training=False)
        right, n = _accuracy_counts(y, pred) if labels else _images(y)
        return loss * n, right, n

    @tf.function
    def any_worker(flag):
        value = strategy.run(lambda: tf.constant(flag, tf.float32))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)  # > 0: some worker stops

    for cb in callbacks:
        cb.set_model(model)
    model.stop_training = False
    for epoch in range(initial_epoch, epochs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        t0 = time.perf_counter()
        losses, right, seen = [], 0.0, 0.0
        for step, (x, y) in enumerate(dist_train):
            loss, r, n = train_step(x, y)
            losses.append(float(loss))
            right, seen = right + float(r), seen + float(n)
            if not math.isfinite(losses[-1]):
                for cb in callbacks:
                    cb.on_train_batch_end(step, {"loss": losses[-1]})
                break
        for cb in callbacks:
            cb.on_test_begin()
        v_loss = v_right = v_n = 0.0
        for x, y in val_ds:
            a, b, c = val_step(x, y)
            v_loss, v_right, v_n = v_loss + float(a), v_right + float(b), v_n + float(c)
        logs = {"loss": sum(losses) / max(1, len(losses)), "val_loss": v_loss / max(1.0, v_n)}
        if labels:
            logs.update(accuracy=right / max(1.0, seen), val_accuracy=v_right / max(1.0, v_n))
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)  # a task's callbacks come first and may add to logs (val_map50)
        shown = "  ".join(f"{k} {logs[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy", "val_map50",
                                                "val_miou")
                          if k in logs)
        say(f"epoch {epoch + 1}/{epochs}  {shown}  {time.perf_counter() - t0:.1f}s  ({cluster.workers} workers)")
        # Stop together: a decision taken on one worker alone (e.g. the time budget) would leave
        # the others waiting in the next all-reduce.
        if float(any_worker(1.0 if model.stop_training else 0.0)) > 0:
            model.stop_training = True
            break
    for cb in callbacks:
        cb.on_train_end()  # the run keeper writes what it still holds (the last checkpoint)
