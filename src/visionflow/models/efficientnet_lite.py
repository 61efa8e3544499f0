"""EfficientNet-Lite in Keras, laid out to take the ImageNet weights published for it.

EfficientNet-Lite is EfficientNet without the parts that quantise or run badly on mobile CPUs:
no squeeze-and-excitation, ReLU6 instead of swish, and a stem (32 channels) and head (1,280
channels, one repeat of the first and last stage) that stay fixed while the other stages are
scaled. Padding is TensorFlow's "same", as in the network the weights were trained in.

The model takes raw RGB pixels in [0, 255] like every visionflow model; the first layer maps them
to (x - 127) / 128, the normalisation the Lite weights were trained with.

Layer names follow the blocks (`block3_dw_conv`, ...) so that `visionflow.pretrained` can map a
source's tensors to them one by one and check every shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from visionflow.models.backbones import BACKBONE_LAYER, features, load_backbone_weights
from visionflow.models.registry import BN_MOMENTUM, image_input, register

BN_EPSILON = 1e-3
DROP_CONNECT = 0.2  # stochastic depth at the last block, rising linearly from 0 at the first
MEAN, SCALE = 127.0, 128.0

# (repeats, kernel, stride, expand ratio, input filters, output filters) of EfficientNet-B0/Lite0.
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))


@dataclass(frozen=True)
class Variant:
    """Width and depth multipliers, native resolution and classifier dropout of one Lite size."""

    width: float
    depth: float
    resolution: int
    dropout: float


VARIANTS = {"efficientnet_lite0": Variant(1.0, 1.0, 224, 0.2),
            "efficientnet_lite1": Variant(1.0, 1.1, 240, 0.2),
            "efficientnet_lite2": Variant(1.1, 1.2, 260, 0.3)}


def _filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by `width`, rounded to a multiple of `divisor` (never down by more than 10%)."""
    if width == 1.0:
        return filters
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def blocks(variant: Variant) -> list[dict]:
    """Every inverted-residual block in order: kernel, stride, expand ratio, input/output filters."""
    out = []
    for i, (repeats, kernel, stride, expand, fin, fout) in enumerate(STAGES):
        fixed = i in (0, len(STAGES) - 1)  # the Lite models keep the first and last stage as in B0
        repeats = repeats if fixed else int(math.ceil(variant.depth * repeats))
        fin = 32 if i == 0 else _filters(fin, variant.width)
        fout = _filters(fout, variant.width)
        for r in range(repeats):
            out.append({"kernel": kernel, "stride": stride if r == 0 else 1, "expand": expand,
                        "in": fin if r == 0 else fout, "out": fout})
    return out


def taps(name: str, strides=(8, 16, 32)) -> list[str]:
    """The layers of backbone `name` that end each of `strides` (2, 4, 8, 16 or 32): the last block
    at that stride, for decoders and feature pyramids."""
    stride, last = 2, {2: "stem_relu"}
    for i, spec in enumerate(blocks(VARIANTS[name])):
        stride *= spec["stride"]
        last[stride] = f"block{i}_add" if spec["stride"] == 1 and spec["in"] == spec["out"] else f"block{i}_project_bn"
    return [last[s] for s in strides]


def _bn(x, name: str):
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)


def _block(x, spec: dict, index: int, drop: float):
    prefix = f"block{index}"
    inputs = x
    channels = spec["in"] * spec["expand"]
    if spec["expand"] != 1:
        x = keras.layers.Conv2D(channels, 1, padding="same", use_bias=False, name=f"{prefix}_expand_conv")(x)
        x = keras.layers.ReLU(6.0, name=f"{prefix}_expand_relu")(_bn(x, f"{prefix}_expand_bn"))
    x = keras.layers.DepthwiseConv2D(spec["kernel"], strides=spec["stride"], padding="same", use_bias=False,
                                     name=f"{prefix}_dw_conv")(x)
    x = keras.layers.ReLU(6.0, name=f"{prefix}_dw_relu")(_bn(x, f"{prefix}_dw_bn"))
    x = keras.layers.Conv2D(spec["out"], 1, padding="same", use_bias=False, name=f"{prefix}_project_conv")(x)
    x = _bn(x, f"{prefix}_project_bn")
    if spec["stride"] == 1 and spec["in"] == spec["out"]:
        if drop > 0:  # stochastic depth: drops the whole residual branch for some images
            x = keras.layers.Dropout(drop, noise_shape=(None, 1, 1, 1), name=f"{prefix}_drop")(x)
        x = keras.layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


def backbone(name: str, input_shape) -> keras.Model:
    """The network from raw pixels to its pooled 1,280 features, as a model named `backbone`."""
    variant = VARIANTS[name]
    inputs = image_input(input_shape)
    x = keras.layers.Rescaling(1.0 / SCALE, offset=-MEAN / SCALE, name="normalize")(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu")(_bn(x, "stem_bn"))
    specs = blocks(variant)
    for i, spec in enumerate(specs):
        x = _block(x, spec, i, DROP_CONNECT * i / len(specs))
    x = keras.layers.Conv2D(1280, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = keras.layers.ReLU(6.0, name="head_relu")(_bn(x, "head_bn"))  # (h/32, w/32, 1280): Grad-CAM's map
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name=BACKBONE_LAYER)


def imagenet_classifier(name: str, input_shape=None) -> keras.Model:
    """The backbone with its 1,000-class ImageNet layer (logits), the form the weights files hold."""
    size = VARIANTS[name].resolution
    net = backbone(name, input_shape or (size, size, 3))
    inputs = image_input(net.input_shape[1:])
    x = keras.layers.Dropout(VARIANTS[name].dropout, name="top_dropout")(net(inputs))
    return keras.Model(inputs, keras.layers.Dense(1000, name="predictions")(x), name=name)


def _build(name: str, input_shape, weights) -> keras.Model:
    net = backbone(name, input_shape)
    if weights != "none":
        load_backbone_weights(name, net, weights, lambda: imagenet_classifier(name, input_shape))
    return features(net, input_shape, name)


def _register(name: str) -> None:
    size = VARIANTS[name].resolution

    def build(input_shape, regularizer=None, weights="none") -> keras.Model:
        return _build(name, input_shape, weights)

    build.__doc__ = f"{name} with average pooling: 1280 features per image (L1/L2 apply to the task's head only)."
    register(name, f"EfficientNet-Lite{name[-1]} (ReLU6, no squeeze-excite, native {size} px); offline ImageNet "
                   f"weights: visionflow weights install {name}.",
             default_dropout=VARIANTS[name].dropout, min_size=32, backbone=True, native_size=size)(build)


for _name in VARIANTS:
    _register(_name)
