"""What a regression model adds to a feature network: the output in the targets' own units, and
the loss on standardised values.

The head's dense layer predicts standardised targets ((value - mean) / std of the training
images); `Destandardize` turns them back into the targets' units inside the model, so model.keras
and every export answer in degrees, years or counts, and nothing outside the model has to know
the training statistics. The loss (`StandardizedLoss`) is taken on standardised residuals, so
that targets of different scales weigh alike and Huber's threshold means one standard deviation.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

LOSSES = ("huber", "mse", "mae")


@keras.saving.register_keras_serializable(package="visionflow")
class Destandardize(keras.layers.Layer):
    """x * std + mean per output; `mean` and `std` are weights set from the training targets
    (`set_statistics`), not trained."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape):
        self.mean = self.add_weight(shape=(self.units,), initializer="zeros", trainable=False, name="mean")
        self.std = self.add_weight(shape=(self.units,), initializer="ones", trainable=False, name="std")

    def call(self, x):
        return x * ops.cast(self.std, x.dtype) + ops.cast(self.mean, x.dtype)

    def set_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean.assign(np.asarray(mean, np.float32))
        self.std.assign(np.asarray(std, np.float32))

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.mean.numpy(), np.float64), np.asarray(self.std.numpy(), np.float64)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="visionflow")
class StandardizedLoss(keras.losses.Loss):
    """`kind` (huber, mse or mae) of (truth - prediction) / std, averaged over the targets."""

    def __init__(self, kind: str = "huber", std=(1.0,), name: str | None = None, **kwargs):
        super().__init__(name=name or f"standardized_{kind}", **kwargs)
        self.kind = kind
        self.std = [float(s) for s in np.ravel(std)]

    def call(self, y_true, y_pred):
        r = (ops.cast(y_true, y_pred.dtype) - y_pred) / ops.convert_to_tensor(self.std, y_pred.dtype)
        a = ops.abs(r)
        if self.kind == "mse":
            per = r * r
        elif self.kind == "mae":
            per = a
        else:  # Huber with delta 1 (one standard deviation)
            per = ops.where(a <= 1.0, 0.5 * r * r, a - 0.5)
        return ops.mean(per, axis=-1)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "std": self.std}
