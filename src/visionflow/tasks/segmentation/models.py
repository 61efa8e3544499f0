"""Segmentation networks: encoder-decoders that give a class logit for every input pixel.

- `unet_lite0`: the ImageNet EfficientNet-Lite0 backbone as the encoder (strides 2 to 32) and a
  light U-Net decoder (Ronneberger et al. 2015) whose steps join the encoder's map at the same
  stride (depthwise-separable convolutions keep it cheap on a CPU);
- `unet_small`: a small U-Net trained from scratch, for tests and tiny data.

Both end at stride 2 and upsample the logits bilinearly to the input size. The loss
(`SegmentationLoss`) is cross-entropy over the labelled pixels (void ignored), optionally with
soft Dice and class weights.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from visionflow.models.registry import BN_MOMENTUM, image_input, register

PACKAGE = "visionflow"
VOID = 255
DECODER = (96, 64, 48, 32)  # channels of the decoder's steps at strides 16, 8, 4, 2


@keras.saving.register_keras_serializable(package=PACKAGE)
class SegmentationLoss(keras.losses.Loss):
    """Cross-entropy of the labelled pixels (targets VOID are ignored), weighted per class where
    `weights` are given, plus `dice` x (1 - soft Dice averaged over the classes)."""

    def __init__(self, classes: int, dice: float = 0.0, weights: list[float] | None = None, name="segmentation_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.classes, self.dice, self.weights = int(classes), float(dice), list(weights) if weights else None

    def call(self, y_true, y_pred):
        y = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
        valid = ops.cast(ops.not_equal(y, VOID), "float32")
        safe = ops.where(ops.equal(y, VOID), 0, y)
        onehot = ops.one_hot(safe, self.classes) * valid[..., None]
        logp = ops.log_softmax(y_pred, axis=-1)
        ce = -ops.sum(onehot * logp, axis=-1)
        if self.weights:
            ce = ce * ops.sum(onehot * ops.convert_to_tensor(self.weights, "float32"), axis=-1)
        n = ops.maximum(ops.sum(valid), 1.0)
        loss = ops.sum(ce) / n
        if self.dice:
            p = ops.softmax(y_pred, axis=-1) * valid[..., None]
            axes = (0, 1, 2)
            inter = ops.sum(p * onehot, axis=axes)
            dice = (2 * inter + 1.0) / (ops.sum(p, axis=axes) + ops.sum(onehot, axis=axes) + 1.0)
            loss = loss + self.dice * (1.0 - ops.mean(dice))
        # one value per image is what Keras reduces; the batch's value is spread evenly over them
        return ops.ones((ops.shape(y_pred)[0],)) * loss

    def get_config(self):
        return {**super().get_config(), "classes": self.classes, "dice": self.dice, "weights": self.weights}


def _conv(x, filters: int, name: str, separable: bool = True):
    conv = layers.SeparableConv2D if separable else layers.Conv2D
    x = conv(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _decoder(deepest, skips: list, classes: int, widths=DECODER, separable: bool = True):
    """From the deepest map up through `skips` (strides 16, 8, 4, 2): upsample, join, two convs;
    then the logits at stride 2, upsampled bilinearly to the input size."""
    x = deepest
    for i, (skip, width) in enumerate(zip(skips, widths)):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"dec{i}_up")(x)
        x = layers.Concatenate(name=f"dec{i}_join")([x, skip])
        x = _conv(x, width, f"dec{i}_a", separable)
        x = _conv(x, width, f"dec{i}_b", separable)
    x = layers.Conv2D(classes, 1, name="logits_half")(x)
    return layers.UpSampling2D(2, interpolation="bilinear", name="logits")(x)


def unet_on_lite(backbone_name: str, input_shape, classes: int, weights: str = "none") -> keras.Model:
    from visionflow.models.backbones import BACKBONE_LAYER, load_backbone_weights
    from visionflow.models.efficientnet_lite import backbone, imagenet_classifier, taps

    net = backbone(backbone_name, input_shape)
    if weights != "none":
        load_backbone_weights(backbone_name, net, weights, lambda: imagenet_classifier(backbone_name, input_shape))
    encoder = keras.Model(net.input, [net.get_layer(n).output for n in taps(backbone_name, (2, 4, 8, 16, 32))],
                         name=BACKBONE_LAYER)
    inputs = image_input(input_shape)
    s2, s4, s8, s16, s32 = encoder(inputs)
    logits = _decoder(s32, [s16, s8, s4, s2], classes)
    return keras.Model(inputs, logits, name=f"unet_{backbone_name.split('_')[-1]}")


@register("unet_lite0", "Segmentation: U-Net decoder on EfficientNet-Lite0 (offline ImageNet weights: "
                        "visionflow weights install efficientnet_lite0).",
          default_dropout=0.0, min_size=64, backbone=True, native_size=224, tasks=("segmentation",), multiple=32,
          listing=lambda: (3_082_018, "320x320, two classes"))
def unet_lite0(input_shape=(320, 320, 3), classes: int = 2, weights: str = "none", **_) -> keras.Model:
    return unet_on_lite("efficientnet_lite0", input_shape, classes, weights)


def lraspp_on_lite(backbone_name: str, input_shape, classes: int, weights: str = "none") -> keras.Model:
    """LR-ASPP (Howard et al. 2019, MobileNetV3's segmentation head): the stride-16 features gated by
    their global average, upsampled to stride 8 and added to a projection of the stride-8 features;
    the logits at stride 8, upsampled bilinearly to the input size."""
    from visionflow.models.backbones import BACKBONE_LAYER, load_backbone_weights
    from visionflow.models.efficientnet_lite import backbone, imagenet_classifier, taps

    net = backbone(backbone_name, input_shape)
    if weights != "none":
        load_backbone_weights(backbone_name, net, weights, lambda: imagenet_classifier(backbone_name, input_shape))
    encoder = keras.Model(net.input, [net.get_layer(n).output for n in taps(backbone_name, (8, 16))], name=BACKBONE_LAYER)
    inputs = image_input(input_shape)
    s8, s16 = encoder(inputs)
    x = layers.Conv2D(128, 1, use_bias=False, name="aspp_conv")(s16)
    x = layers.ReLU(name="aspp_relu")(layers.BatchNormalization(momentum=BN_MOMENTUM, name="aspp_bn")(x))
    gate = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(s16)
    gate = layers.Conv2D(128, 1, activation="sigmoid", name="aspp_gate")(gate)
    x = layers.Multiply(name="aspp_gated")([x, gate])
    x = layers.UpSampling2D(2, interpolation="bilinear", name="aspp_up")(x)
    x = layers.Add(name="aspp_logits")([layers.Conv2D(classes, 1, name="aspp_high")(x),
                                        layers.Conv2D(classes, 1, name="aspp_low")(s8)])
    logits = layers.UpSampling2D(8, interpolation="bilinear", name="logits")(x)
    return keras.Model(inputs, logits, name=f"lraspp_{backbone_name.split('_')[-1]}")


@register("lraspp_lite0", "Segmentation: LR-ASPP head on EfficientNet-Lite0 (offline ImageNet weights), logits "
                          "at stride 8: lighter than unet_lite0, coarser edges.",
          default_dropout=0.0, min_size=64, backbone=True, native_size=224, tasks=("segmentation",), multiple=32,
          listing=lambda: (746_580, "320x320, two classes"))
def lraspp_lite0(input_shape=(320, 320, 3), classes: int = 2, weights: str = "none", **_) -> keras.Model:
    return lraspp_on_lite("efficientnet_lite0", input_shape, classes, weights)


@register("unet_small", "Segmentation: a small U-Net from scratch (tests, tiny data).",
          default_dropout=0.0, min_size=32, tasks=("segmentation",), multiple=32,
          listing=lambda: (255_762, "256x256, two classes"))
def unet_small(input_shape=(256, 256, 3), classes: int = 2, **_) -> keras.Model:
    inputs = image_input(input_shape)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalize")(inputs)
    skips = []
    for i, width in enumerate((16, 24, 32, 48, 64)):  # strides 2, 4, 8, 16, 32
        x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name=f"enc{i}_down")(x)
        x = layers.ReLU(name=f"enc{i}_relu1")(layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"enc{i}_bn1")(x))
        x = _conv(x, width, f"enc{i}_b", separable=False)
        skips.append(x)
    logits = _decoder(skips[-1], skips[-2::-1], classes, widths=(48, 32, 24, 16), separable=False)
    return keras.Model(inputs, logits, name="unet_small")
