"""Detector networks: an anchor-free one-stage detector (FCOS, Tian et al. 2019) with a feature
pyramid over strides 8, 16 and 32, on the ImageNet EfficientNet-Lite0 backbone (`fcos_lite0`)
or on a small convolutional stem trained from scratch (`fcos_small`, for tests and tiny data).

The trained network outputs one raw row per feature-map point, (n_points, 4 + classes + 1):
box distances (softplus gives left/top/right/bottom in strides), class logits and a centre-ness
logit. `Decode` turns that into boxes in input pixels and scores (sqrt(class x centre-ness)) in
the graph, so every exported format answers in boxes; only thresholding and NMS are left to
`visionflow.tasks.detection.boxes`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from visionflow.models.registry import BN_MOMENTUM, image_input, register
from visionflow.tasks.detection.assign import STRIDES, points

PACKAGE = "visionflow"
WIDTH = 64  # channels of the pyramid and of the head
HEAD_DEPTH = 2  # convolutions per head branch before its output
PRIOR = 0.01  # the initial class probability, so that the many background points do not swamp the loss
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0
BOX_WEIGHT = 2.0


# -- the loss --------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package=PACKAGE)
def detection_loss(y_true, y_pred):
    """Focal loss on every scored point's classes, GIoU on positive points' boxes (weighted by
    their centre-ness) and binary cross-entropy on their centre-ness; sums normalised by the
    positive points in the batch. `y_true` rows: see `visionflow.tasks.detection.assign`."""
    c = y_pred.shape[-1] - 5
    cls_t, box_t, ctr_t = y_true[..., :c], y_true[..., c:c + 4], y_true[..., c + 4]
    pos, weight = y_true[..., c + 5], y_true[..., c + 6]
    box_p, cls_p, ctr_p = ops.softplus(y_pred[..., :4]), y_pred[..., 4:4 + c], y_pred[..., 4 + c]
    n_pos = ops.maximum(ops.sum(pos), 1.0)

    p = ops.sigmoid(cls_p)
    ce = ops.maximum(cls_p, 0) - cls_p * cls_t + ops.log1p(ops.exp(-ops.abs(cls_p)))
    p_t = p * cls_t + (1 - p) * (1 - cls_t)
    alpha = FOCAL_ALPHA * cls_t + (1 - FOCAL_ALPHA) * (1 - cls_t)
    focal = ops.sum(alpha * ops.power(1 - p_t, FOCAL_GAMMA) * ce, axis=-1) * weight
    cls_loss = ops.sum(focal) / n_pos

    lt, tt, rt, bt = (box_t[..., i] for i in range(4))
    lp, tp, rp, bp = (box_p[..., i] for i in range(4))
    area_t, area_p = (lt + rt) * (tt + bt), (lp + rp) * (tp + bp)
    inter = (ops.minimum(lt, lp) + ops.minimum(rt, rp)) * (ops.minimum(tt, tp) + ops.minimum(bt, bp))
    union = area_t + area_p - inter + 1e-7
    enclosing = (ops.maximum(lt, lp) + ops.maximum(rt, rp)) * (ops.maximum(tt, tp) + ops.maximum(bt, bp)) + 1e-7
    giou = inter / union - (enclosing - union) / enclosing
    box_weight = ctr_t * pos
    box_loss = ops.sum((1 - giou) * box_weight) / ops.maximum(ops.sum(box_weight), 1e-6)

    ctr_ce = ops.maximum(ctr_p, 0) - ctr_p * ctr_t + ops.log1p(ops.exp(-ops.abs(ctr_p)))
    ctr_loss = ops.sum(ctr_ce * pos) / n_pos
    return cls_loss + BOX_WEIGHT * box_loss + ctr_loss


# -- decoding in the graph -----------------------------------------------------------------
@keras.saving.register_keras_serializable(package=PACKAGE)
class Decode(layers.Layer):
    """Raw rows (batch, n, 4 + classes + 1) -> (batch, n, 4 + classes): boxes [x1, y1, x2, y2] in
    input pixels, then each class's score sqrt(sigmoid(class) * sigmoid(centre-ness))."""

    def __init__(self, image_size, **kwargs):
        super().__init__(**kwargs)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        centres, strides, _ = points(self.image_size)
        self._centres = np.concatenate([centres, centres], 1)[None].astype(np.float32)  # x, y, x, y
        self._signs = np.array([-1, -1, 1, 1], np.float32) * strides[:, None]  # distances to pixels
        self._signs = self._signs[None].astype(np.float32)

    def call(self, raw):
        c = raw.shape[-1] - 5
        boxes = ops.convert_to_tensor(self._centres) + ops.softplus(raw[..., :4]) * ops.convert_to_tensor(self._signs)
        scores = ops.sqrt(ops.sigmoid(raw[..., 4:4 + c]) * ops.sigmoid(raw[..., 4 + c:]))
        return ops.concatenate([boxes, scores], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] - 1)

    def get_config(self):
        return {**super().get_config(), "image_size": list(self.image_size)}


def with_decoding(model: keras.Model) -> keras.Model:
    """The trained network with `Decode` on its output: images in, boxes and scores out."""
    size = tuple(model.input_shape[1:3])
    inputs = image_input((*size, 3))
    return keras.Model(inputs, Decode(size, name="decode")(model(inputs)), name="detector")


# -- the network ---------------------------------------------------------------------------
def _gn(x, name: str):
    return layers.GroupNormalization(groups=16, name=name)(x)


def _pyramid(c3, c4, c5):
    """Top-down feature pyramid (Lin et al. 2017): three maps of WIDTH channels."""
    l5 = layers.Conv2D(WIDTH, 1, name="fpn_lateral5")(c5)
    l4 = layers.Conv2D(WIDTH, 1, name="fpn_lateral4")(c4)
    l3 = layers.Conv2D(WIDTH, 1, name="fpn_lateral3")(c3)
    p4 = layers.Add(name="fpn_merge4")([l4, layers.UpSampling2D(2, name="fpn_up5")(l5)])
    p3 = layers.Add(name="fpn_merge3")([l3, layers.UpSampling2D(2, name="fpn_up4")(p4)])
    return [layers.Conv2D(WIDTH, 3, padding="same", name=f"fpn_out{i}")(p) for i, p in ((3, p3), (4, p4), (5, l5))]


def _head(maps, classes: int):
    """The head shared by every level: a classification branch and a box branch (with
    centre-ness), GroupNorm as in FCOS (batch statistics would differ between levels)."""
    cls_convs = [layers.Conv2D(WIDTH, 3, padding="same", use_bias=False, name=f"cls_conv{i}") for i in range(HEAD_DEPTH)]
    cls_norms = [layers.GroupNormalization(groups=16, name=f"cls_gn{i}") for i in range(HEAD_DEPTH)]
    box_convs = [layers.Conv2D(WIDTH, 3, padding="same", use_bias=False, name=f"box_conv{i}") for i in range(HEAD_DEPTH)]
    box_norms = [layers.GroupNormalization(groups=16, name=f"box_gn{i}") for i in range(HEAD_DEPTH)]
    bias = -math.log((1 - PRIOR) / PRIOR)
    cls_out = layers.Conv2D(classes, 3, padding="same", bias_initializer=keras.initializers.Constant(bias),
                            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), name="cls_logits")
    box_out = layers.Conv2D(4, 3, padding="same", kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                            bias_initializer=keras.initializers.Constant(0.5), name="box_distances")
    ctr_out = layers.Conv2D(1, 3, padding="same", kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                            name="centreness")
    rows = []
    for level, x in zip(STRIDES, maps):
        a = b = x
        for conv, norm in zip(cls_convs, cls_norms):
            a = layers.ReLU()(norm(conv(a)))
        for conv, norm in zip(box_convs, box_norms):
            b = layers.ReLU()(norm(conv(b)))
        row = layers.Concatenate(name=f"rows{level}")([box_out(b), cls_out(a), ctr_out(b)])
        rows.append(layers.Reshape((-1, classes + 5), name=f"flat{level}")(row))
    return layers.Concatenate(axis=1, name="raw")(rows)


def fcos_on_lite(backbone_name: str, input_shape, classes: int, weights: str = "none") -> keras.Model:
    from visionflow.models.backbones import BACKBONE_LAYER, load_backbone_weights
    from visionflow.models.efficientnet_lite import backbone, imagenet_classifier, taps

    net = backbone(backbone_name, input_shape)
    if weights != "none":
        load_backbone_weights(backbone_name, net, weights, lambda: imagenet_classifier(backbone_name, input_shape))
    tapped = keras.Model(net.input, [net.get_layer(n).output for n in taps(backbone_name)], name=BACKBONE_LAYER)
    inputs = image_input(input_shape)
    raw = _head(_pyramid(*tapped(inputs)), classes)
    return keras.Model(inputs, raw, name=f"fcos_{backbone_name.split('_')[-1]}")


def _stage(x, filters: int, name: str):
    """A stride-2 stage of the small detector: conv, BN, ReLU twice."""
    x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False, name=f"{name}_down")(x)
    x = layers.ReLU(name=f"{name}_relu1")(layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn1")(x))
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return layers.ReLU(name=f"{name}_relu2")(layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn2")(x))


@register("fcos_lite0", "Detector: FCOS head and feature pyramid on EfficientNet-Lite0 (offline ImageNet weights: "
                        "visionflow weights install efficientnet_lite0).",
          default_dropout=0.0, min_size=64, backbone=True, native_size=224, tasks=("detection",),
          listing=lambda: (3_290_918, "320x320, one class"))
def fcos_lite0(input_shape=(320, 320, 3), classes: int = 1, weights: str = "none", **_) -> keras.Model:
    return fcos_on_lite("efficientnet_lite0", input_shape, classes, weights)


@register("fcos_small", "Detector: FCOS head and feature pyramid on a 5-stage CNN from scratch (tests, tiny data).",
          default_dropout=0.0, min_size=64, tasks=("detection",), listing=lambda: (751_670, "256x256, one class"))
def fcos_small(input_shape=(256, 256, 3), classes: int = 1, **_) -> keras.Model:
    inputs = image_input(input_shape)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalize")(inputs)
    c2 = _stage(_stage(x, 16, "stage1"), 32, "stage2")
    c3 = _stage(c2, 64, "stage3")
    c4 = _stage(c3, 96, "stage4")
    c5 = _stage(c4, 128, "stage5")
    raw = _head(_pyramid(c3, c4, c5), classes)
    return keras.Model(inputs, raw, name="fcos_small")
