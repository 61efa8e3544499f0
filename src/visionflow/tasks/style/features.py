"""Perceptual features for style transfer: what "content" and "style" are measured with.

Both come from the ImageNet EfficientNet-Lite0 (offline weights, see `visionflow.pretrained`),
frozen and run in inference mode, cut at the expansion activations of four blocks (Johnson et
al. 2016 used VGG-16's relu1_2 ... relu4_3 the same way: one tap per resolution):

    block1_expand_relu  stride 2,  96 channels    colours and fine strokes
    block3_expand_relu  stride 4,  144 channels   textures
    block5_expand_relu  stride 8,  240 channels   motifs
    block8_expand_relu  stride 16, 480 channels   parts of objects

The style of an image is the Gram matrix of each tap (Gatys et al. 2016: which channels fire
together, wherever they fire), its content the activations of one tap themselves. Distances are
relative squared errors (the mean squared difference over the reference's mean square), so that
every layer weighs alike whatever the scale of its activations, and they compare across image
sizes (a Gram matrix is normalised by the number of positions). 0 is identical, 1 as far as
a blank image.
"""

from __future__ import annotations

import keras
import numpy as np

from visionflow.tasks.network import BACKBONE  # the offline ImageNet network the loss looks through

STYLE_LAYERS = ("block1_expand_relu", "block3_expand_relu", "block5_expand_relu", "block8_expand_relu")
CONTENT_LAYER = "block5_expand_relu"


def extractor(style_layers=STYLE_LAYERS, content_layer: str = CONTENT_LAYER, weights: str = "imagenet") -> keras.Model:
    """A frozen model from raw RGB pixels in [0, 255] (any size) to the outputs of `style_layers`
    followed by `content_layer`'s.

    Raises:
        ModelError: the ImageNet weights are not installed and cannot be (no internet, no package).
    """
    from visionflow.models.efficientnet_lite import backbone, imagenet_classifier
    from visionflow.models.backbones import load_backbone_weights

    net = backbone(BACKBONE, (None, None, 3))
    if weights != "none":
        load_backbone_weights(BACKBONE, net, weights, lambda: imagenet_classifier(BACKBONE, (224, 224, 3)))
    outputs = [net.get_layer(name).output for name in (*style_layers, content_layer)]
    model = keras.Model(net.input, outputs, name="perceptual")
    model.trainable = False
    return model


def gram(features):
    """(batch, h, w, c) activations -> (batch, c, c) channel co-activations per position."""
    from keras import ops

    shape = ops.shape(features)
    flat = ops.reshape(features, (shape[0], -1, shape[-1]))
    positions = ops.cast(ops.shape(flat)[1], features.dtype)
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / positions


def split(outputs: list) -> tuple[list, object]:
    """The extractor's outputs as (style activations, content activations)."""
    return list(outputs[:-1]), outputs[-1]


def _relative(a, b, axes):
    from keras import ops

    return ops.mean(ops.square(a - b), axis=axes) / (ops.mean(ops.square(b), axis=axes) + 1e-8)


def style_distance(grams: list, reference: list):
    """Mean over the layers of the relative squared error of Gram matrices against `reference`'s,
    per image: (batch,)."""
    from keras import ops

    return ops.mean(ops.stack([_relative(a, b, (1, 2)) for a, b in zip(grams, reference)]), axis=0)


def content_distance(features, reference):
    """Relative squared error of content activations against `reference`'s, per image: (batch,)."""
    return _relative(features, reference, (1, 2, 3))


class Measure:
    """Style and content distances of images, against one style image, with one extractor.

    Example:
        measure = Measure(extractor(), style_pixels)
        measure.distances(outputs, inputs)  # {"style": [...], "content": [...]} per image
    """

    def __init__(self, net: keras.Model, style: np.ndarray):
        self.net = net
        style_feats, _ = split(self.net(np.asarray(style, np.float32)[None], training=False))
        self.style_grams = [gram(f) for f in style_feats]

    def features(self, images: np.ndarray):
        return split(self.net(np.asarray(images, np.float32)[None] if np.ndim(images) == 3 else
                              np.asarray(images, np.float32), training=False))

    def distances(self, image: np.ndarray, reference: np.ndarray) -> dict[str, float]:
        """`image`'s style distance to the style image and content distance to `reference` (the
        photo it was made from); both (h, w, 3) pixels of the same size."""
        style_feats, content = self.features(image)
        _, content_ref = self.features(reference)
        return {"style": float(style_distance([gram(f) for f in style_feats], self.style_grams)[0]),
                "content": float(content_distance(content, content_ref)[0])}
