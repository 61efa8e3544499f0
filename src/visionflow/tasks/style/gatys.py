"""The per-image reference: Gatys et al. (2016)'s optimisation of the pixels themselves.

Starting from the photo, Adam moves its pixels to lower the same perceptual loss the network
trains with (`visionflow.tasks.style.losses.PerceptualLoss`). It is what a feed-forward network
approximates in one pass, so its style and content distances are the reference the evaluation
holds the network to, and its seconds per image the speed the network is compared with.
"""

from __future__ import annotations

import time

import numpy as np

STEPS = 200  # Adam steps per image
RATE = 4.0  # pixels per step at first (Adam's step size is about the learning rate)


def restyle(photo: np.ndarray, loss, steps: int = STEPS, rate: float = RATE, style: int = 0) -> tuple[np.ndarray, float]:
    """(the optimised uint8 image, seconds taken) for one (h, w, 3) photo, toward the loss's
    style number `style`."""
    from visionflow.tasks.style.losses import PerceptualLoss

    if len(loss.styles) > 1:  # the same loss with that style alone
        loss = PerceptualLoss([loss.styles[style]], loss.style_weight, loss.tv_weight, loss.weights,
                              loss.content_layer, net=loss.net)
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    target = tf.constant(np.asarray(photo, np.float32)[None])
    pixels = tf.Variable(target)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(rate, steps))
    optimizer.build([pixels])  # here, not inside the first traced step (which would then be traced twice)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(loss(target, pixels))
        optimizer.apply_gradients([(tape.gradient(value, pixels), pixels)])
        pixels.assign(tf.clip_by_value(pixels, 0.0, 255.0))
        return value

    for _ in range(steps):
        step()
    out = np.clip(np.round(pixels.numpy()[0]), 0, 255).astype(np.uint8)
    return out, time.perf_counter() - start
