"""The perceptual loss a style network trains with (Johnson et al. 2016).

    loss = style_weight * style distance of the output to the style image
         + content distance of the output to the photo
         + tv_weight * total variation of the output

with the distances of `visionflow.tasks.style.features`. The style image travels inside the
loss's config (a PNG, base64), so a checkpoint resumes anywhere without the original file.
"""

from __future__ import annotations

import base64
import io

import keras
import numpy as np

from visionflow.tasks.style import features as F

PACKAGE = "visionflow"


def encode_png(pixels: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png(text: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB"))


def total_variation(images):
    """Mean absolute difference between neighbouring pixels, in units of full scale: (batch,)."""
    from keras import ops

    dy = ops.mean(ops.abs(images[:, 1:] - images[:, :-1]), axis=(1, 2, 3))
    dx = ops.mean(ops.abs(images[:, :, 1:] - images[:, :, :-1]), axis=(1, 2, 3))
    return (dx + dy) / 255.0


@keras.saving.register_keras_serializable(package=PACKAGE)
class PerceptualLoss(keras.losses.Loss):
    """Style + content + total variation, per image; y_true the photo, y_pred the network's output."""

    def __init__(self, style_png: str, style_weight: float = 1.0, tv_weight: float = 0.0, weights: str = "imagenet",
                 name: str = "perceptual", **kwargs):
        super().__init__(name=name, **kwargs)
        self.style_png, self.style_weight, self.tv_weight, self.weights = style_png, style_weight, tv_weight, weights
        self.net = F.extractor(weights=weights)
        style_feats, _ = F.split(self.net(decode_png(style_png)[None].astype(np.float32), training=False))
        self.style_grams = [keras.ops.convert_to_tensor(F.gram(f)) for f in style_feats]

    def terms(self, y_true, y_pred) -> dict:
        """Each term of the loss per image, unweighted: style, content, tv."""
        style_feats, content = F.split(self.net(y_pred, training=False))
        _, reference = F.split(self.net(y_true, training=False))
        return {"style": F.style_distance([F.gram(f) for f in style_feats], self.style_grams),
                "content": F.content_distance(content, reference), "tv": total_variation(y_pred)}

    def call(self, y_true, y_pred):
        t = self.terms(y_true, y_pred)
        return self.style_weight * t["style"] + t["content"] + self.tv_weight * t["tv"]

    def get_config(self):
        return {**super().get_config(), "style_png": self.style_png, "style_weight": self.style_weight,
                "tv_weight": self.tv_weight, "weights": self.weights}
