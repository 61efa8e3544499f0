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
    """Style + content + total variation, per image; y_true the photo, y_pred the network's output:
    3 channels per style image in `styles` (PNGs, base64), the loss the mean over the styles."""

    def __init__(self, styles, style_weight: float = 1.0, tv_weight: float = 0.0, weights: str = "imagenet",
                 content_layer: str = F.CONTENT_LAYER, name: str = "perceptual", net: keras.Model | None = None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.styles = [styles] if isinstance(styles, str) else list(styles)
        self.style_weight, self.tv_weight, self.weights = style_weight, tv_weight, weights
        self.content_layer = content_layer
        # `net`: an extractor to share (with the same content layer)
        self.net = net if net is not None else F.extractor(content_layer=content_layer, weights=weights)
        self.style_grams = []  # per style, per layer: (1, c, c)
        for png in self.styles:
            feats, _ = F.split(self.net(decode_png(png)[None].astype(np.float32), training=False))
            self.style_grams.append([keras.ops.convert_to_tensor(F.gram(f)) for f in feats])

    def terms(self, y_true, y_pred) -> list[dict]:
        """Each term of the loss per image, unweighted, for each style: [{style, content, tv}, ...]."""
        from keras import ops

        n = len(self.styles)
        batch = ops.shape(y_pred)[0]
        # every style's output and the photo through the extractor in one call
        stacked = ops.concatenate([y_pred[..., 3 * k:3 * k + 3] for k in range(n)] + [y_true[..., :3]], axis=0)
        feats, content = F.split(self.net(stacked, training=False))
        reference = content[n * batch:]
        out = []
        for k in range(n):
            part = slice(k * batch, (k + 1) * batch)
            out.append({"style": F.style_distance([F.gram(f[part]) for f in feats], self.style_grams[k]),
                        "content": F.content_distance(content[part], reference),
                        "tv": total_variation(y_pred[..., 3 * k:3 * k + 3])})
        return out

    def call(self, y_true, y_pred):
        total = 0.0
        for t in self.terms(y_true, y_pred):
            total = total + self.style_weight * t["style"] + t["content"] + self.tv_weight * t["tv"]
        return total / len(self.styles)

    def get_config(self):
        return {**super().get_config(), "styles": self.styles, "style_weight": self.style_weight,
                "tv_weight": self.tv_weight, "weights": self.weights, "content_layer": self.content_layer}
