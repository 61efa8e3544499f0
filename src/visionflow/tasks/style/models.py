"""Feed-forward style transfer networks: a photo in, the same photo repainted out, any size.

A network takes RGB pixels in [0, 255] and returns, for each of the styles it learnt, RGB pixels
in [0, 255] of the same size: 3 channels per style, stacked (sides a multiple of the spec's
`multiple`; `visionflow.tasks.restoration.Restorer` pads and crops back).
"""

from __future__ import annotations

import keras
from keras import layers

from visionflow.models.layers import ClipPixels, Upscale
from visionflow.models.registry import register

HE = "he_normal"


def _norm(name: str):
    """Instance normalisation (each image's channels to zero mean and unit variance over its
    positions; Ulyanov et al. 2016): the contrast of the photo then no longer leaks into the
    painting, and it holds at any image size, where batch statistics of training crops would not."""
    return layers.GroupNormalization(groups=-1, epsilon=1e-3, name=name)


def _conv(x, width: int, kernel: int, name: str, strides: int = 1, relu: bool = True):
    x = layers.Conv2D(width, kernel, strides=strides, padding="same", kernel_initializer=HE, name=name)(x)
    x = _norm(f"{name}_norm")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


@register("johnson_s", "Style transfer: Johnson et al.'s image transformation network at half width "
          "(2 stride-2 convolutions, 5 residual blocks of 64, 2 upsamplings), instance normalised; "
          "several styles share all but the last two layers",
          default_dropout=0.0, min_size=4, tasks=("style",), multiple=4)
def johnson_s(width: int = 16, blocks: int = 5, styles: int = 1, residual: bool = False, **_) -> keras.Model:
    """Johnson, Alahi and Fei-Fei (2016) with the widths halved (16-32-64 instead of 32-64-128)
    for a CPU, instance normalisation instead of batch normalisation (Ulyanov et al. 2016), and
    nearest-neighbour upsampling followed by a convolution instead of transposed convolutions
    (Odena et al. 2016: no checkerboard artefacts). The output is a scaled tanh, so every
    pixel is in range without clipping gradients away.

    With several `styles`, everything up to the last upsampling is shared and each style has its
    own last two convolutions (a style bank on a shared encoder, as Chen et al. 2017's StyleBank):
    one pass paints a photo in every style, at little more than the cost of one.

    `residual`: each style's output is the photo plus a learnt change (up to a full swing of 255
    either way), the last convolution starting at zero, so training starts from the photo itself
    as Gatys' optimisation does."""
    image = keras.Input((None, None, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(image)
    x = _conv(x, width, 9, "stem")
    x = _conv(x, width * 2, 3, "down1", strides=2)
    x = _conv(x, width * 4, 3, "down2", strides=2)
    for i in range(blocks):
        y = _conv(x, width * 4, 3, f"res{i}a")
        y = _conv(y, width * 4, 3, f"res{i}b", relu=False)
        x = layers.Add(name=f"res{i}")([x, y])
    x = _conv(Upscale(2, "nearest", name="up1")(x), width * 2, 3, "up1_conv")
    x = Upscale(2, "nearest", name="up2")(x)
    painted = []
    for k in range(styles):
        tag = "" if styles == 1 else f"_{k}"
        y = _conv(x, width, 3, f"up2_conv{tag}")
        if residual:
            y = layers.Conv2D(3, 9, padding="same", activation="tanh", kernel_initializer="zeros", name=f"paint{tag}")(y)
            y = layers.Add(name=f"change{tag}")([image, layers.Rescaling(255.0, name=f"to_pixels{tag}")(y)])
        else:
            y = layers.Rescaling(127.5, offset=127.5, name=f"to_pixels{tag}")(
                layers.Conv2D(3, 9, padding="same", activation="tanh", name=f"paint{tag}")(y))
        painted.append(y)
    y = painted[0] if styles == 1 else layers.Concatenate(name="styles")(painted)
    out = ClipPixels(name="clip")(y)
    return keras.Model(image, out, name="johnson_s")
