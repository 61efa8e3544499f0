"""The from-scratch default: a compact BN-ReLU CNN with global average pooling."""

from __future__ import annotations

import keras

from visionflow.models.registry import BN_MOMENTUM, image_input, register


def _conv_bn(x, filters: int, regularizer, name: str, strides: int = 1):
    x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                            kernel_regularizer=regularizer, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


@register("small_cnn", "From-scratch default: strided stem, 4 BN-ReLU conv stages, global average pooling.",
          default_dropout=0.3, min_size=15)
def build(input_shape, regularizer=None) -> keras.Model:
    """Strided stem (24) then stages of 32, 64x2, 128x2, 256 channels with max pooling between, GAP:
    256 features per image (the task adds dropout and the output layer).

    Why this shape, for a few thousand images on a CPU:
    - The stride-2 stem and early pooling keep most of the arithmetic at low resolution: about
      the tutorial CNN's cost per image at 150x150, with ~0.6M parameters instead of its ~19M,
      most of which sat in the Flatten -> Dense 512 layer and memorised small training sets.
    - Batch normalization (momentum 0.9, so the moving statistics keep up on small datasets)
      lets a higher learning rate train a deeper stack stably.
    - Global average pooling plus dropout instead of a large dense layer is the main defence
      against overfitting, together with the augmentation presets.
    """
    inputs = image_input(input_shape)
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = _conv_bn(x, 24, regularizer, "stem", strides=2)  # (h/2, w/2, 24)
    x = _conv_bn(x, 32, regularizer, "s1")
    x = keras.layers.MaxPooling2D(2, name="s1_pool")(x)  # (h/4, w/4, 32)
    x = _conv_bn(x, 64, regularizer, "s2a")
    x = _conv_bn(x, 64, regularizer, "s2b")
    x = keras.layers.MaxPooling2D(2, name="s2_pool")(x)  # (h/8, w/8, 64)
    x = _conv_bn(x, 128, regularizer, "s3a")
    x = _conv_bn(x, 128, regularizer, "s3b")
    x = keras.layers.MaxPooling2D(2, name="s3_pool")(x)  # (h/16, w/16, 128)
    x = _conv_bn(x, 256, regularizer, "s4")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, x, name="small_cnn")
