"""Layers of the generative models: class-conditional batch norm, the projection discriminator's
class term, and DiffAugment (differentiable augmentation of what the discriminator sees).

Registered as serializable, so generators saved as `model.keras` load with `safe_mode=True`.
"""

from __future__ import annotations

import keras
from keras import ops

from visionflow.models.layers import PACKAGE
from visionflow.models.registry import BN_MOMENTUM


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConditionalBatchNorm(keras.layers.Layer):
    """Batch norm whose scale and shift are learnt per class (de Vries et al. 2017; BigGAN's
    generator): inputs [features (n, h, w, c), class index (n,)]."""

    def __init__(self, classes: int, momentum: float = BN_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.classes = int(classes)
        self.momentum = float(momentum)
        self.norm = keras.layers.BatchNormalization(momentum=momentum, center=False, scale=False, name="norm")

    def build(self, shapes):
        channels = int(shapes[0][-1])
        self.norm.build(shapes[0])
        self.gamma = self.add_weight(shape=(self.classes, channels), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(self.classes, channels), initializer="zeros", name="beta")

    def call(self, inputs, training=None):
        x, y = inputs
        y = ops.cast(ops.reshape(y, (-1,)), "int32")
        g = ops.take(self.gamma, y, axis=0)[:, None, None, :]
        b = ops.take(self.beta, y, axis=0)[:, None, None, :]
        return self.norm(x, training=training) * g + b

    def compute_output_shape(self, shapes):
        return shapes[0]

    def get_config(self):
        return {**super().get_config(), "classes": self.classes, "momentum": self.momentum}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Projection(keras.layers.Layer):
    """The class term of a projection discriminator (Miyato & Koyama 2018): <embed(y), h> for
    features h (n, c) and class index y (n,), shape (n, 1)."""

    def __init__(self, classes: int, **kwargs):
        super().__init__(**kwargs)
        self.classes = int(classes)

    def build(self, shapes):
        self.embeddings = self.add_weight(shape=(self.classes, int(shapes[0][-1])), initializer="glorot_uniform",
                                          name="embeddings")

    def call(self, inputs):
        h, y = inputs
        e = ops.take(self.embeddings, ops.cast(ops.reshape(y, (-1,)), "int32"), axis=0)
        return ops.sum(e * h, axis=-1, keepdims=True)

    def compute_output_shape(self, shapes):
        return (shapes[0][0], 1)

    def get_config(self):
        return {**super().get_config(), "classes": self.classes}


POLICIES = ("color", "translation", "cutout")


def parse_policy(spec: str) -> tuple[str, ...]:
    """'color,translation,cutout' -> its parts; '' or 'none' -> (); ValueError naming the choices."""
    parts = tuple(p.strip() for p in str(spec).split(",") if p.strip() and p.strip() != "none")
    unknown = [p for p in parts if p not in POLICIES]
    if unknown:
        raise ValueError(f"DiffAugment parts are {', '.join(POLICIES)} (comma-separated) or none. "
                         f"Received: {', '.join(unknown)}")
    return parts


def diff_augment(x, policy: tuple[str, ...], seed=None):
    """DiffAugment (Zhao et al. 2020) of a batch in [-1, 1], shape (n, h, w, c): random brightness,
    saturation and contrast; translation by up to 1/8 of the side (zero fill); a cutout of half
    the side. Every operation is differentiable in x, so the generator learns through it, and the
    same policy applies to real and generated images (the discriminator never sees an
    un-augmented image, so the augmentation does not leak into the samples)."""
    import tensorflow as tf

    if not policy:
        return x
    n = tf.shape(x)[0]
    h, w = x.shape[1], x.shape[2]
    if "color" in policy:
        x = x + (tf.random.uniform([n, 1, 1, 1]) - 0.5)
        mean = tf.reduce_mean(x, axis=3, keepdims=True)
        x = (x - mean) * (tf.random.uniform([n, 1, 1, 1]) * 2.0) + mean
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = (x - mean) * (tf.random.uniform([n, 1, 1, 1]) + 0.5) + mean
    if "translation" in policy:
        sy, sx = max(1, h // 8), max(1, w // 8)
        dy = tf.random.uniform([n], -sy, sy + 1, dtype=tf.int32)
        dx = tf.random.uniform([n], -sx, sx + 1, dtype=tf.int32)
        padded = tf.pad(x, [[0, 0], [sy, sy], [sx, sx], [0, 0]])
        rows = tf.range(h)[None, :] + sy + dy[:, None]  # (n, h)
        cols = tf.range(w)[None, :] + sx + dx[:, None]  # (n, w)
        x = tf.gather(padded, rows, axis=1, batch_dims=1)
        x = tf.gather(x, cols, axis=2, batch_dims=1)
    if "cutout" in policy:
        ch, cw = h // 2, w // 2
        cy = tf.random.uniform([n, 1, 1], 0, h + (1 - ch % 2), dtype=tf.int32)
        cx = tf.random.uniform([n, 1, 1], 0, w + (1 - cw % 2), dtype=tf.int32)
        yy = tf.range(h)[None, :, None]
        xx = tf.range(w)[None, None, :]
        inside = ((yy >= cy - ch // 2) & (yy < cy - ch // 2 + ch)) & ((xx >= cx - cw // 2) & (xx < cx - cw // 2 + cw))
        x = x * tf.cast(~inside, x.dtype)[..., None]
    return x
