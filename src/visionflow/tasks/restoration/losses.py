"""Training losses and the PSNR metric of restoration models, on pixels in [0, 255].

Registered as serializable so that checkpoints (compiled models) load in safe mode.
"""

from __future__ import annotations

import keras
import tensorflow as tf

PACKAGE = "visionflow"


@keras.saving.register_keras_serializable(package=PACKAGE)
def l1(y_true, y_pred):
    """Mean absolute error in units of full scale: converges faster than L2 for restoration
    (Zhao et al. 2017) and is what the PSNR figures were measured with by default."""
    return tf.reduce_mean(tf.abs(y_true - y_pred), axis=[1, 2, 3]) / 255.0


@keras.saving.register_keras_serializable(package=PACKAGE)
def l2(y_true, y_pred):
    """Mean squared error in units of full scale: the loss PSNR measures."""
    return tf.reduce_mean(tf.square(y_true - y_pred), axis=[1, 2, 3]) / 255.0**2


@keras.saving.register_keras_serializable(package=PACKAGE)
def ssim(y_true, y_pred):
    """0.84 (1 - SSIM) + 0.16 L1, the mix Zhao et al. (2017) found best for perceived quality."""
    structure = 1.0 - tf.image.ssim(y_true, y_pred, max_val=255.0, filter_size=7)
    return 0.84 * structure + 0.16 * l1(y_true, y_pred)


@keras.saving.register_keras_serializable(package=PACKAGE)
def psnr(y_true, y_pred):
    """Peak signal-to-noise ratio per image in dB (peak 255), averaged over the batch by Keras."""
    return tf.image.psnr(y_true, tf.clip_by_value(y_pred, 0.0, 255.0), max_val=255.0)


LOSSES = {"l1": l1, "l2": l2, "ssim": ssim}
