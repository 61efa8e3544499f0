"""Grad-CAM heat maps: which parts of the image drove a class score (Selvaraju et al., 2017).

The class score is the logit of the chosen class, computed from the classifier's input features
and its Dense kernel (visionflow models end in softmax/sigmoid, whose inputs are the logits). Its
gradient with respect to a convolutional feature map, averaged over space, weighs the map's
channels; the ReLU of the weighted sum is the heat map. The feature map is the last
convolutional layer's output unless one is named; for pretrained backbones it is found inside
the backbone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visionflow.errors import ModelError
from visionflow.models.heads import OUTPUT_LAYERS

# Layer types whose geometry `GradCam._alignment` knows: size-preserving, and strided/padded ones.
CHAIN_NEUTRAL = ("InputLayer", "Rescaling", "Normalization", "BatchNormalization", "ReLU", "Activation",
                 "LeakyReLU", "Dropout", "SpatialDropout2D")
CHAIN_SPATIAL = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D", "AveragePooling2D")
# Layers whose 4-D output is not a good Grad-CAM target on its own (they only subsample).
SKIPPED = ("MaxPooling2D", "AveragePooling2D", "Dropout", "SpatialDropout2D", "ZeroPadding2D", "Rescaling",
           "Normalization", "InputLayer", "Cropping2D")


@dataclass
class Explanation:
    """A heat map for one image and class."""

    heatmap: np.ndarray  # (h, w) float32 in [0, 1], at the model's input size
    label: str
    probability: float
    predicted: str
    layer: str
    image: np.ndarray  # (h, w, 3) uint8, the model input

    def overlay(self, base: np.ndarray | None = None, alpha: float = 0.45):
        """The heat map (jet colours) blended over `base` (default: the model input), as a PIL image."""
        from matplotlib import colormaps
        from PIL import Image

        base = self.image if base is None else base
        h, w = base.shape[:2]
        heat = Image.fromarray((self.heatmap * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR)
        colours = colormaps["jet"](np.asarray(heat, dtype=np.float32) / 255.0)[..., :3]  # (h, w, 3) in [0, 1]
        mixed = (1 - alpha) * base.astype(np.float32) / 255.0 + alpha * colours
        return Image.fromarray((mixed.clip(0, 1) * 255).astype(np.uint8))


def _is_feature_map(layer) -> bool:
    """A layer whose output is a (batch, h, w, channels) map worth explaining."""
    try:
        rank = len(layer.output.shape)
    except (AttributeError, ValueError):  # no single output (unbuilt, or several)
        return False
    return rank == 4 and type(layer).__name__ not in SKIPPED


def _head(model):
    for name in OUTPUT_LAYERS:
        try:
            return model.get_layer(name)
        except ValueError:
            continue
    raise ModelError(f"{model.name} has no visionflow classifier layer ({' or '.join(OUTPUT_LAYERS)}); "
                     f"Grad-CAM needs a model built by visionflow.")


def find_layer(model, name: str | None = None) -> tuple[object | None, object]:
    """(nested model or None, layer): the named layer, or the last convolutional feature map.

    Searches the model's own layers, then those inside a nested model (a backbone).

    Raises:
        ModelError: no such layer (naming the candidates), or no 4-D feature map at all.
    """
    import keras

    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if name:
        for owner in (None, *nested):
            try:
                return owner, (owner or model).get_layer(name)
            except ValueError:
                continue
        candidates = [layer.name for owner in (model, *nested) for layer in owner.layers if _is_feature_map(layer)]
        raise ModelError(f"No layer named {name!r} in {model.name}. Convolutional layers: "
                         f"{', '.join(candidates[-8:]) or 'none'}")
    own = [layer for layer in model.layers if _is_feature_map(layer)]
    if own:
        return None, own[-1]
    for owner in reversed(nested):
        inner = [layer for layer in owner.layers if _is_feature_map(layer)]
        if inner:
            return owner, inner[-1]
    raise ModelError(f"{model.name} has no convolutional layer for Grad-CAM.")


class GradCam:
    """Grad-CAM for one Keras classifier; build once, explain many images.

    Example:
        >>> cam = GradCam(visionflow.load("runs/exp1"))
        >>> cam.explain("cat.jpg").overlay().save("cat_gradcam.png")
    """

    def __init__(self, predictor, layer: str | None = None):
        import keras

        if predictor.model is None:
            raise ModelError(f"{predictor.source} is an exported model; Grad-CAM needs the run's .keras model.")
        if getattr(predictor, "frames", None):
            raise ModelError(f"{predictor.source} classifies video clips; Grad-CAM explains image models.")
        if getattr(predictor, "fusion", None) is not None:
            raise ModelError(f"{predictor.source} reads table columns beside its images; Grad-CAM explains models of "
                             f"images alone (its evaluation gives each input's permutation importance instead).")
        self.predictor = predictor
        model = predictor.model
        head = _head(model)
        owner, target = find_layer(model, layer)
        self.layer = target.name
        features = head.input  # (batch, d): the classifier's input, before dropout is a no-op anyway
        if owner is None:
            self._model = keras.Model(model.inputs[0], [target.output, features])
        else:
            # A backbone: its inner feature map and its pooled output, then the outer head.
            inner = keras.Model(owner.inputs[0], [target.output, owner.output])
            if not _only_dropout_between(model, owner, head):
                raise ModelError(f"Grad-CAM inside {owner.name} needs the classifier to follow it directly.")
            self._model = inner
        self._kernel, self._bias = (np.asarray(w) for w in head.get_weights())
        self._axes = self._alignment(model, owner, target)

    def _alignment(self, model, owner, target) -> tuple[tuple[float, float], tuple[float, float]]:
        """Where each feature-map cell sits in the input: (scale, offset) per axis, so that cell i
        is centred on input pixel scale * i + offset.

        Plain resizing of the map assumes the cells tile the image evenly, which is wrong for
        networks with unpadded convolutions (the tutorial CNN's last map is off by up to 10 pixels
        at 64x64). For a chain of convolution and pooling layers the centres follow from each
        layer's kernel, stride and padding; other networks (branches, nested backbones, whose
        convolutions are "same"-padded) are taken to tile evenly.
        """
        h, w = self.predictor.image_size
        fh, fw = (int(v) for v in target.output.shape[1:3])
        even = ((h / fh, h / fh / 2 - 0.5), (w / fw, w / fw / 2 - 0.5))
        if owner is not None:
            return even
        axes = [[1.0, 0.0], [1.0, 0.0]]  # (jump, centre of cell 0) per axis
        for layer in model.layers:
            kind = type(layer).__name__
            if kind in CHAIN_NEUTRAL:
                pass
            elif kind in CHAIN_SPATIAL:
                kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
                strides, padding = layer.strides, layer.padding
                size_in = layer.input.shape[1:3]
                for a in (0, 1):
                    k, st, n = int(kernel[a]), int(strides[a]), int(size_in[a])
                    left = 0
                    if padding == "same":
                        out = -(-n // st)
                        left = max((out - 1) * st + k - n, 0) // 2
                    axes[a][1] += ((k - 1) / 2 - left) * axes[a][0]
                    axes[a][0] *= st
            else:
                return even
            if layer is target:
                return (axes[0][0], axes[0][1]), (axes[1][0], axes[1][1])
        return even

    def _upsample(self, cam: np.ndarray) -> np.ndarray:
        """The (fh, fw) map at input size, interpolated between the cells' measured centres."""
        h, w = self.predictor.image_size
        (sr, orow), (sc, ocol) = self._axes
        rows = (np.arange(h) - orow) / sr  # fractional cell coordinate of each input row
        cols = (np.arange(w) - ocol) / sc
        fh, fw = cam.shape
        tall = np.stack([np.interp(rows, np.arange(fh), cam[:, j]) for j in range(fw)], axis=1)  # (h, fw)
        return np.stack([np.interp(cols, np.arange(fw), tall[i]) for i in range(h)], axis=0)  # (h, w)

    def explain(self, image, class_name: str | None = None) -> Explanation:
        """Heat map for `image` (a path, bytes, PIL image or uint8 array) and `class_name`
        (default: the predicted class).

        Raises:
            ModelError: an unknown class name. DecodeError: an unreadable image.
        """
        import tensorflow as tf

        classes = self.predictor.classes
        if class_name is not None and class_name not in classes:
            from visionflow.registry import unknown_message

            raise ModelError(unknown_message("class", class_name, classes))
        task = self.predictor.task
        pixels = self.predictor.prepare(image)  # (h, w, 3) uint8, as the model sees it
        probs = self.predictor.predict_arrays(pixels[None])[0]
        predicted = task.explain_target(probs)
        index = predicted if class_name is None else classes.index(class_name)
        x = tf.constant(pixels[None].astype(np.float32))
        with tf.GradientTape() as tape:
            fmap, features = self._model(x, training=False)
            logits = tf.matmul(features, self._kernel) + self._bias  # (1, units) before the activation
            score = task.score(logits, index, classes)
        grads = tape.gradient(score, fmap)  # (1, fh, fw, c)
        weights = tf.reduce_mean(grads, axis=(1, 2))  # (1, c)
        cam = tf.nn.relu(tf.reduce_sum(fmap * weights[:, None, None, :], axis=-1))[0].numpy()  # (fh, fw)
        heat = self._upsample(cam)
        top = float(heat.max())
        heat = heat / top if top > 0 else np.zeros_like(heat)  # (h, w) in [0, 1]; all zero: no positive evidence
        return Explanation(heatmap=np.clip(heat, 0, 1).astype(np.float32), label=classes[index],
                           probability=float(probs[index]), predicted=classes[predicted], layer=self.layer,
                           image=pixels)


def _only_dropout_between(model, owner, head) -> bool:
    """True when the layers after `owner` up to `head` are only Dropout (identity when predicting)."""
    layers = model.layers
    after = layers[layers.index(owner) + 1:layers.index(head)]
    return all(type(layer).__name__ == "Dropout" for layer in after)


def explain_to_file(predictor, image: str | Path, out: Path, class_name: str | None = None,
                    layer: str | None = None, cam: GradCam | None = None) -> Explanation:
    """Writes the overlay for `image` to `out` (PNG) at the image's own resolution (longest side at
    most 1024 pixels), atomically; returns the explanation."""
    from visionflow.rundir import atomic_write_bytes

    import io

    cam = cam or GradCam(predictor, layer)
    result = cam.explain(image, class_name)
    base = framed(predictor, image, 1024)

    buf = io.BytesIO()
    result.overlay(base).save(buf, format="PNG")
    atomic_write_bytes(Path(out), buf.getvalue())
    return result


def framed(predictor, image, longest: int, max_pixels: int | None = None) -> np.ndarray:
    """The picture the heat map belongs on, longest side at most `longest` (uint8 (h, w, 3)).

    Stretched models see the whole image, so it keeps its own aspect (the heat map is stretched
    back onto it); cropping and letterboxing models see their crop or letterbox, which is shown at
    the model's aspect instead.
    """
    from visionflow.data.decode import MAX_PIXELS, decode

    limit = max_pixels or MAX_PIXELS
    if predictor.resize.mode != "stretch":
        h, w = predictor.image_size
        scale = longest / max(h, w)
        return decode(image, size=(max(1, round(h * scale)), max(1, round(w * scale))), max_pixels=limit,
                      resize=predictor.resize)
    base = decode(image, max_pixels=limit)
    scale = longest / max(base.shape[:2])
    if scale < 1:
        h, w = (max(1, round(s * scale)) for s in base.shape[:2])
        base = decode(image, size=(h, w), max_pixels=limit)
    return base
