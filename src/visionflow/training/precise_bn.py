"""Precise batch-norm statistics: re-estimated from training images before every validation.

Why: a BatchNormalization layer normalises with the current batch while training, but with its
moving averages at inference, and those averages follow the weights only as fast as the momentum
allows. On a small dataset there are too few steps for them to catch up: 52 training images in
batches of 32 (2 steps per epoch) reached training accuracy 1.00 while the saved model answered
0.50-0.52 for everything, and validation accuracy sat at chance. A lower momentum only shifts the
problem (noisy statistics from the last batch or two on larger data).

What: before each validation, the network runs forward in training mode over up to
`PRECISE_BN_IMAGES` training images, without augmentation (the distribution that validation and
prediction see), and each trainable BatchNormalization layer gets the average of the batch means
and variances it saw (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021: "precise BN").
Training itself is unchanged; the saved model carries statistics that belong to its own weights.
Frozen layers (a frozen pretrained backbone) run in inference mode and keep theirs.

Cost: one forward pass over at most `PRECISE_BN_IMAGES` images per epoch.
"""

from __future__ import annotations

import keras
import numpy as np

PRECISE_BN_IMAGES = 512  # enough for stable statistics (the paper saturates near 10^3) at ~1/8 epoch of flowers5


def has_batchnorm(model: keras.Model) -> bool:
    """Whether `model` holds any BatchNormalization layer, frozen or not."""
    return any(isinstance(layer, keras.layers.BatchNormalization)
               for layer in model._flatten_layers(include_self=False, recursive=True))


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """The trainable BatchNormalization layers of `model`, nested models included."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


class StatisticsEstimator:
    """Recomputes the batch-norm statistics of `model` (traced once, reused every epoch)."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.layers = batchnorm_layers(model)
        self._fn = None

    def _batch_statistics(self, images):
        if self._fn is None:
            import tensorflow as tf

            layers, model = self.layers, self.model

            @tf.function(reduce_retracing=True)
            def batch_statistics(x):
                model(x, training=True)  # with momentum 0 this leaves the batch's own statistics
                return [(layer.moving_mean.value, layer.moving_variance.value) for layer in layers]

            self._fn = batch_statistics
        return self._fn(images)

    def __call__(self, batches) -> int:
        """Sets every trainable BatchNormalization layer's moving mean and variance to the average
        of its batch statistics over `batches` (float image batches (n, h, w, 3), or (images,
        labels) pairs, or dicts of named inputs). Returns the number of images seen; with none the model is unchanged."""
        layers = self.layers
        if not layers:
            return 0
        saved = [layer.momentum for layer in layers]
        before = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in layers]
        for layer in layers:
            layer.momentum = 0.0
        try:
            sums = [[np.zeros(m.shape, np.float64), np.zeros(v.shape, np.float64)] for m, v in before]
            seen = 0
            for batch in batches:
                images = batch[0] if isinstance(batch, (tuple, list)) else batch
                first = next(iter(images.values())) if isinstance(images, dict) else images  # named inputs
                n = int(first.shape[0])
                if n == 0:
                    continue
                for acc, (mean, var) in zip(sums, self._batch_statistics(images)):
                    acc[0] += n * np.asarray(mean, np.float64)
                    acc[1] += n * np.asarray(var, np.float64)
                seen += n
            for layer, (mean, var), (old_mean, old_var) in zip(layers, sums, before):
                layer.moving_mean.assign((mean / seen).astype(old_mean.dtype) if seen else old_mean)
                layer.moving_variance.assign((var / seen).astype(old_var.dtype) if seen else old_var)
            return seen
        finally:
            for layer, momentum in zip(layers, saved):
                layer.momentum = momentum


def recompute_statistics(model: keras.Model, batches) -> int:
    """One-off `StatisticsEstimator(model)(batches)`: see there."""
    return StatisticsEstimator(model)(batches)


class PreciseBN(keras.callbacks.Callback):
    """Re-estimates the batch-norm statistics on `dataset` (unaugmented training batches) before
    every validation, so validation, the best model saved and every prediction use statistics of
    the current weights. A model without trainable BatchNormalization layers is left alone."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset
        self.images = 0
        self._estimator: StatisticsEstimator | None = None

    def on_test_begin(self, logs=None):
        # Rebuilt when the trainable layers change (a backbone unfrozen for fine-tuning).
        if self._estimator is None or self._estimator.layers != batchnorm_layers(self.model):
            self._estimator = StatisticsEstimator(self.model)
        self.images = self._estimator(self.dataset)
