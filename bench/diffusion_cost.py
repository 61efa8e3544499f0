"""What a diffusion model (DDPM) would cost on this CPU, beside the GAN: a small U-Net noise
predictor (3 levels, 32-128 channels, a time embedding added at every level) at 32x32.

Usage: python bench/diffusion_cost.py

Prints its training throughput, how many optimizer steps of 64 images fit in the GAN task's
20-minute budget, and the cost of sampling one image with 1000 denoising steps (DDPM) and with
50 (DDIM). Not a trained model: the figures that decide whether a diffusion baseline fits.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

BUDGET_S = 20 * 60  # the gan task's default training budget
BATCH = 64


def unet(side: int = 32, width: int = 32) -> keras.Model:
    """(noisy image, step) -> predicted noise; the time embedding is added at every level."""
    x = keras.Input((side, side, 3), name="noisy")
    t = keras.Input((), name="step")
    emb = layers.Dense(width * 4, activation="swish")(layers.Reshape((1,))(t))
    emb = layers.Dense(width * 4, activation="swish")(emb)

    def level(h, channels):
        h = layers.Conv2D(channels, 3, padding="same", activation="swish")(h)
        h = layers.Add()([h, layers.Reshape((1, 1, channels))(layers.Dense(channels)(emb))])
        return layers.Conv2D(channels, 3, padding="same", activation="swish")(h)

    skips, h = [], layers.Conv2D(width, 3, padding="same")(x)
    for channels in (width, width * 2, width * 4):
        h = level(h, channels)
        skips.append(h)
        h = layers.AveragePooling2D(2)(h)
    h = layers.Conv2D(width * 4, 3, padding="same", activation="swish")(h)
    for channels, skip in zip((width * 4, width * 2, width), reversed(skips)):
        h = level(layers.Concatenate()([layers.UpSampling2D()(h), skip]), channels)
    return keras.Model([x, t], layers.Conv2D(3, 3, padding="same")(h))


def main() -> None:
    model = unet()
    model.compile(keras.optimizers.Adam(2e-4), "mse")
    rng = np.random.default_rng(0)
    x = rng.random((BATCH * 20, 32, 32, 3), dtype=np.float32)
    t = rng.integers(0, 1000, len(x)).astype(np.float32)
    model.fit([x[:2 * BATCH], t[:2 * BATCH]], x[:2 * BATCH], batch_size=BATCH, verbose=0)  # traced once
    start = time.perf_counter()
    model.fit([x, t], x, batch_size=BATCH, verbose=0)
    train = len(x) / (time.perf_counter() - start)
    step = tf.function(lambda a, b: model([a, b], training=False))
    step(x[:BATCH], t[:BATCH])
    start = time.perf_counter()
    for _ in range(10):
        step(x[:BATCH], t[:BATCH])
    per_image = (time.perf_counter() - start) / (10 * BATCH)
    print(f"U-Net noise predictor, {model.count_params():,} parameters, 32x32:")
    print(f"  training {train:.0f} images/s -> {train * BUDGET_S / BATCH:,.0f} steps of {BATCH} in 20 minutes")
    print(f"  sampling {per_image * 1000:.2f} ms per image per denoising step -> {per_image * 1000:.2f} s per image "
          f"with 1000 steps, {per_image * 50 * 1000:.0f} ms with 50 (DDIM)")


if __name__ == "__main__":
    main()
