"""Small Keras layers the image-to-image and clip models need and Keras does not ship.

Each is registered as serializable, so `model.keras` files holding them load with
`safe_mode=True` (no Lambda layers, no pickled code).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

PACKAGE = "visionflow"


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelShuffle(keras.layers.Layer):
    """(h, w, c*r*r) -> (h*r, w*r, c): sub-pixel upsampling (Shi et al. 2016, "ESPCN")."""

    def __init__(self, factor: int, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        import tensorflow as tf

        return tf.nn.depth_to_space(x, self.factor)

    def compute_output_shape(self, shape):
        r = self.factor
        h, w = (None if d is None else d * r for d in shape[1:3])
        return (shape[0], h, w, shape[3] // (r * r))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelUnshuffle(keras.layers.Layer):
    """(h, w, c) -> (h/r, w/r, c*r*r): the inverse of PixelShuffle (FFDNet's sub-images)."""

    def __init__(self, factor: int, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        import tensorflow as tf

        return tf.nn.space_to_depth(x, self.factor)

    def compute_output_shape(self, shape):
        r = self.factor
        h, w = (None if d is None else d // r for d in shape[1:3])
        return (shape[0], h, w, shape[3] * r * r)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=PACKAGE)
class KeepKnown(keras.layers.Layer):
    """Inpainting's output: the network's pixels inside the hole, the input's everywhere else.

    Inputs: the 4-channel model input (RGB with the hole filled, then the mask in 0-255, 255 in
    the hole) and the network's RGB guess.
    """

    def call(self, inputs):
        given, guess = inputs
        mask = given[..., 3:4] / 255.0
        return given[..., :3] * (1.0 - mask) + guess * mask

    def compute_output_shape(self, shapes):
        return (*shapes[1][:3], 3)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClipPixels(keras.layers.Layer):
    """Clamps outputs to the pixel range [0, 255]."""

    def call(self, x):
        return ops.clip(x, 0.0, 255.0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Upscale(keras.layers.Layer):
    """Bilinear (or nearest) upscaling by an integer factor for inputs of any height and width.
    Keras' UpSampling2D loses the channel count when the sides are unknown, which the TFLite
    converter cannot take for the convolution that follows."""

    def __init__(self, factor: int, method: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)
        self.method = str(method)

    def call(self, x):
        import tensorflow as tf

        size = tf.shape(x)[1:3] * self.factor
        return tf.image.resize(x, size, method=self.method)

    def compute_output_shape(self, shape):
        h, w = (None if d is None else d * self.factor for d in shape[1:3])
        return (shape[0], h, w, shape[3])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "method": self.method}


@keras.saving.register_keras_serializable(package=PACKAGE)
class GaussianBlur(keras.layers.Layer):
    """A fixed (untrained) Gaussian blur per channel with standard deviation `sigma` pixels: a
    classical first estimate that a restoration network then corrects."""

    def __init__(self, sigma: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.sigma = float(sigma)
        radius = max(1, int(round(2.5 * self.sigma)))
        t = np.arange(-radius, radius + 1, dtype=np.float32)
        g = np.exp(-0.5 * (t / self.sigma) ** 2)
        g /= g.sum()
        self._kernel = np.outer(g, g).astype(np.float32)

    def call(self, x):
        import tensorflow as tf

        channels = x.shape[-1]
        kernel = tf.constant(np.repeat(self._kernel[:, :, None, None], channels, axis=2))
        r = self._kernel.shape[0] // 2
        padded = tf.pad(x, [[0, 0], [r, r], [r, r], [0, 0]], mode="SYMMETRIC")
        return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PushPullFill(keras.layers.Layer):
    """Fills holes from their surroundings by push-pull interpolation (Gortler et al. 1996): the
    known pixels are averaged down an image pyramid (each level the mean of the known pixels under
    it), then the coarse means fill the unknown pixels on the way back up. A smooth first guess at
    any hole size, in `levels` halvings, with no trained weights; an inpainting network corrects it.

    Inputs: the 4-channel inpainting input (RGB, then the mask in 0-255, 255 in the hole).
    Output: RGB with the holes filled and the known pixels unchanged.
    """

    def __init__(self, levels: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.levels = int(levels)

    def call(self, given):
        import tensorflow as tf

        known = 1.0 - given[..., 3:4] / 255.0
        total, weight = given[..., :3] * known, known
        pyramid = []
        for _ in range(self.levels):
            pyramid.append((total, weight))
            total = tf.nn.avg_pool2d(total, 2, 2, "SAME")
            weight = tf.nn.avg_pool2d(weight, 2, 2, "SAME")
        estimate = total / tf.maximum(weight, 1e-6)
        for total, weight in reversed(pyramid):
            up = tf.image.resize(estimate, tf.shape(total)[1:3], method="bilinear")
            share = tf.minimum(weight * 2.0, 1.0)  # how much this level knows here: mostly-known cells keep their own mean
            estimate = share * total / tf.maximum(weight, 1e-6) + (1.0 - share) * up
        return given[..., :3] * known + estimate * (1.0 - known)

    def compute_output_shape(self, shape):
        return (*shape[:3], 3)

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}


@keras.saving.register_keras_serializable(package=PACKAGE)
class AddCoords(keras.layers.Layer):
    """(..., h, w, c) -> (..., h, w, c + 2): appends the x and y position of each pixel, in [-1, 1]."""

    def call(self, x):
        from keras import ops

        shape = ops.shape(x)
        h, w = shape[-3], shape[-2]
        ys = ops.linspace(-1.0, 1.0, h)
        xs = ops.linspace(-1.0, 1.0, w)
        grid = ops.stack(ops.meshgrid(xs, ys, indexing="xy"), axis=-1)  # (h, w, 2)
        grid = ops.broadcast_to(ops.cast(grid, x.dtype), (*shape[:-1], 2))
        return ops.concatenate([x, grid], axis=-1)

    def compute_output_shape(self, shape):
        return (*shape[:-1], shape[-1] + 2)
